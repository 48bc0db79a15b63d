package native

import (
	"encoding/json"
	"net/http"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
)

type authenticatorBody struct {
	Enabled bool                       `json:"enabled"`
	Config  map[string]json.RawMessage `json:"config"`
	Allowed []string                   `json:"allowed"`
}

func (s *Surface) putAuthenticator(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	var req authenticatorBody
	if err := api.DecodeJSON(r, &req); err != nil {
		return err
	}
	cfg := make(map[string]string, len(req.Config))
	for k, raw := range req.Config {
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return &core.Error{Kind: core.Invalid, Field: "config." + k, Msg: "config value " + k + " must be a string"}
		}
		cfg[k] = v
	}
	v, err := s.core.PutAuthenticator(r.Context(), rc.Access, r.PathValue("type"), r.PathValue("service_id"),
		core.AuthenticatorSpec{Enabled: req.Enabled, Config: cfg, Allowed: req.Allowed})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, authnView(v))
	return nil
}

func (s *Surface) getAuthenticator(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	v, err := s.core.GetAuthenticator(r.Context(), rc.Access, r.PathValue("type"), r.PathValue("service_id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, authnView(v))
	return nil
}

func (s *Surface) listAuthenticators(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	vs, err := s.core.ListAuthenticators(r.Context(), rc.Access)
	if err != nil {
		return err
	}
	out := List[Authenticator]{Items: make([]Authenticator, 0, len(vs)), Total: len(vs)}
	for _, v := range vs {
		out.Items = append(out.Items, authnView(v))
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Surface) deleteAuthenticator(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	if err := s.core.DeleteAuthenticator(r.Context(), rc.Access, r.PathValue("type"), r.PathValue("service_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
