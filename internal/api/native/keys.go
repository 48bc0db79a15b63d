package native

import (
	"net/http"
	"time"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
)

type keyCreate struct {
	Description   string   `json:"description"`
	ValidSources  []string `json:"valid_sources"`
	ExpiresInDays *int     `json:"expires_in_days"`
	Roles         []string `json:"roles"`
}

func (s *Surface) createKey(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	var req keyCreate
	if r.ContentLength != 0 { // every field is optional, so no body means defaults
		if err := api.DecodeJSON(r, &req); err != nil {
			return err
		}
	}
	k, key, err := s.core.CreateAPIKey(r.Context(), rc.Access, r.PathValue("id"),
		core.KeySpec{Description: req.Description, ValidSources: req.ValidSources, ExpiresInDays: req.ExpiresInDays, Roles: req.Roles})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, NewAPIKey{APIKey: keyView(k), Key: key})
	return nil
}

func (s *Surface) listKeys(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	ks, err := s.core.ListAPIKeys(r.Context(), rc.Access, r.PathValue("id"))
	if err != nil {
		return err
	}
	out := List[APIKey]{Items: make([]APIKey, 0, len(ks)), Total: len(ks)}
	for _, k := range ks {
		out.Items = append(out.Items, keyView(k))
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Surface) revokeKey(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	if err := s.core.RevokeAPIKey(r.Context(), rc.Access, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// mayChangeKey is the pre-check of revoke and rotate: whose key it is
// decides, so the pipeline asks before the body is read, and a refusal says
// nothing about the body.
func (s *Surface) mayChangeKey(r *http.Request, rc *api.Ctx) error {
	return s.core.MayChangeKey(r.Context(), rc.Access, r.PathValue("id"))
}

type rotateRequest struct {
	GracePeriodSeconds int `json:"grace_period_seconds"`
}

func (s *Surface) rotateKey(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	var req rotateRequest
	if r.ContentLength != 0 {
		if err := api.DecodeJSON(r, &req); err != nil {
			return err
		}
	}
	grace := time.Duration(req.GracePeriodSeconds) * time.Second
	if req.GracePeriodSeconds < 0 || grace/time.Second != time.Duration(req.GracePeriodSeconds) {
		grace = -1 // overflowed: let the core refuse it with its range
	}
	k, key, err := s.core.RotateAPIKey(r.Context(), rc.Access, r.PathValue("id"), grace)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, NewAPIKey{APIKey: keyView(k), Key: key})
	return nil
}
