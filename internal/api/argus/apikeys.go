package argus

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/model"
)

// constraints are a key's session constraints.
type constraints struct {
	Function []string `json:"function"`
	Customer []string `json:"customer"`
}

// keyView is an API key as Argus shows it.
type keyView struct {
	ID                  string      `json:"id"`
	Prefix              string      `json:"prefix"`
	User                userRef     `json:"user"`
	Description         string      `json:"description"`
	ValidSources        []string    `json:"validSources"`
	ExpirationTimestamp *int64      `json:"expirationTimestamp"`
	SessionConstraints  constraints `json:"sessionConstraints"`
	CreatedTimestamp    int64       `json:"createdTimestamp"`
	LastUsedTimestamp   *int64      `json:"lastUsedTimestamp"`
	APIKey              string      `json:"apiKey,omitempty"`
}

func millis(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	ms := t.UnixMilli()
	return &ms
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s *Surface) keyView(r *http.Request, rc *api.Ctx, owner model.Principal, k model.APIKey) keyView {
	return keyView{ID: k.ID, Prefix: owner.ID + "/" + k.ID, User: userRef{ID: owner.ID, UserName: owner.Login},
		Description: k.Description, ValidSources: orEmpty(k.ValidSources), ExpirationTimestamp: millis(k.ExpiresAt),
		SessionConstraints: constraints{Function: orEmpty(s.core.RoleNames(r.Context(), rc.Access, k.Roles)), Customer: orEmpty(k.Customers)},
		CreatedTimestamp:   k.CreatedAt.UnixMilli(), LastUsedTimestamp: millis(k.LastUsedAt)}
}

// user resolves the path's {user}: a login or a native user id.
func (s *Surface) user(r *http.Request, rc *api.Ctx) (model.Principal, error) {
	return s.core.ResolveUser(r.Context(), rc.Access, r.PathValue("user"))
}

func (s *Surface) listKeys(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	pg, err := readPage(r)
	if err != nil {
		return err
	}
	owner, err := s.user(r, rc)
	if err != nil {
		return err
	}
	ks, err := s.core.ListAPIKeys(r.Context(), rc.Access, owner.ID)
	if err != nil {
		return err
	}
	var live []keyView
	for _, k := range ks {
		if k.RevokedAt == nil && !k.Conjur {
			live = append(live, s.keyView(r, rc, owner, k))
		}
	}
	writeList(w, slice(live, pg), pg, len(live))
	return nil
}

// idempotency reads the Idempotency-Key header, if any, for a route that
// creates what (the core adds the owner it resolves, so {user} as a login
// or as an id is one scope).
func idempotency(r *http.Request, what string, body []byte) *core.Idempotency {
	v := r.Header.Values("Idempotency-Key")
	if len(v) == 0 {
		return nil
	}
	return &core.Idempotency{Key: v[0], Scope: "argus " + what, Body: body}
}

func (s *Surface) createKey(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	o, err := readObject(r, "description", "validSources", "expirationDays", "expirationTimestamp", "sessionConstraints")
	if err != nil {
		return err
	}
	spec := core.KeySpec{Description: o.str("description"), ValidSources: o.strings("", "validSources", o.m["validSources"], true)}
	if d := o.integer("expirationDays"); d != nil {
		days := int(min(max(*d, -1), 1<<20))
		spec.ExpiresInDays = &days
	}
	if ts := o.integer("expirationTimestamp"); ts != nil {
		t := time.UnixMilli(*ts)
		spec.ExpiresAt = &t
	}
	if o.has("sessionConstraints") {
		var sc map[string]json.RawMessage
		if err := json.Unmarshal(o.m["sessionConstraints"], &sc); err != nil {
			o.fail("sessionConstraints", "", "sessionConstraints must be an object")
		}
		o.unknown("sessionConstraints.", sc, []string{"function", "customer"})
		spec.Functions = o.strings("sessionConstraints.", "function", sc["function"], false)
		spec.Customers = o.strings("sessionConstraints.", "customer", sc["customer"], false)
	}
	if err := o.err(); err != nil {
		return err
	}
	spec.Idempotency = idempotency(r, "apikey", o.body)
	owner, err := s.user(r, rc)
	if err != nil {
		return err
	}
	k, key, err := s.core.CreateAPIKey(r.Context(), rc.Access, owner.ID, spec)
	if err != nil {
		return err
	}
	v := s.keyView(r, rc, owner, k)
	v.APIKey = core.ArgusKey(k, key)
	writeOne(w, v)
	return nil
}

func (s *Surface) deleteKey(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	owner, err := s.user(r, rc)
	if err != nil {
		return err
	}
	if r.PathValue("userID") != owner.ID {
		return &core.Error{Kind: core.NotFound, Msg: "no API key " + r.PathValue("userID") + "/" + r.PathValue("keyID") + " of this user"}
	}
	k, err := s.core.RevokeUserKey(r.Context(), rc.Access, owner.ID, r.PathValue("keyID"))
	if err != nil {
		return err
	}
	writeOne(w, s.keyView(r, rc, owner, k))
	return nil
}
