package native

import (
	"context"
	"net/http"
	"time"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/model"
)

// apiRegsAPI is the API-registration service: BeyondInsight-style registrations.
type apiRegsAPI interface {
	CreateAPIRegistration(ctx context.Context, a *core.Access, spec core.APIRegSpec) (model.APIRegistration, core.APIRegSecrets, error)
	GetAPIRegistration(ctx context.Context, a *core.Access, id string) (model.APIRegistration, error)
	ListAPIRegistrations(ctx context.Context, a *core.Access, page core.Page) ([]model.APIRegistration, int, error)
	UpdateAPIRegistration(ctx context.Context, a *core.Access, id string, spec core.APIRegSpec) (model.APIRegistration, error)
	DeleteAPIRegistration(ctx context.Context, a *core.Access, id string) error
	ShowAPIRegistrationKey(ctx context.Context, a *core.Access, id string) (core.APIRegSecrets, error)
	RotateAPIRegistrationKey(ctx context.Context, a *core.Access, id string) (core.APIRegSecrets, error)
	RotatePSRUNSecret(ctx context.Context, a *core.Access, id string) (core.APIRegSecrets, error)
}

// APIRule is one authentication rule of a registration.
type APIRule struct {
	ID    string `json:"id,omitempty"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

// APIRegistration is a registration as the native API shows it: never its
// key or secrets. A key policy shows key_masked, allowed and its MFA,
// password and PSRUN options; an access policy its client_id, run_as and
// access_token_minutes instead.
type APIRegistration struct {
	ID                        string     `json:"id"`
	Name                      string     `json:"name"`
	Type                      string     `json:"type"`
	EnforceMFA                *bool      `json:"enforce_mfa,omitempty"`
	ClientCertificateRequired bool       `json:"client_certificate_required"`
	UserPasswordRequired      *bool      `json:"user_password_required,omitempty"`
	VerifyPSRUNSignature      *bool      `json:"verify_psrun_signature,omitempty"`
	Allowed                   *[]string  `json:"allowed,omitempty"`
	Rules                     []APIRule  `json:"rules"`
	KeyMasked                 string     `json:"key_masked,omitempty"`
	ClientID                  string     `json:"client_id,omitempty"`
	RunAs                     string     `json:"run_as,omitempty"`
	AccessTokenMinutes        int        `json:"access_token_minutes,omitempty"`
	CreatedAt                 time.Time  `json:"created_at"`
	UpdatedAt                 time.Time  `json:"updated_at"`
	KeyRotatedAt              *time.Time `json:"key_rotated_at"`
	LastUsedAt                *time.Time `json:"last_used_at"`
}

// APIRegistrationSecrets are a registration's secrets: answered only by
// create, show-key and the rotations.
type APIRegistrationSecrets struct {
	Key          string `json:"key,omitempty"`
	PSRUNSecret  string `json:"psrun_secret,omitempty"`
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
}

// NewAPIRegistration is the answer to a create: the registration and, once, its secrets.
type NewAPIRegistration struct {
	APIRegistration
	Key          string `json:"key,omitempty"`
	PSRUNSecret  string `json:"psrun_secret,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
}

func apiRegView(g model.APIRegistration) APIRegistration {
	v := APIRegistration{ID: g.ID, Name: g.Name, Type: g.Type, ClientCertificateRequired: g.ClientCertRequired,
		Rules: make([]APIRule, 0, len(g.Rules)), CreatedAt: g.CreatedAt, UpdatedAt: g.UpdatedAt, KeyRotatedAt: g.KeyRotatedAt,
		LastUsedAt: g.LastUsedAt}
	for _, r := range g.Rules {
		v.Rules = append(v.Rules, APIRule{ID: r.ID, Type: r.Type, Value: r.Value})
	}
	if g.Type == model.APIAccessPolicy {
		v.ClientID, v.RunAs, v.AccessTokenMinutes = g.ClientID, g.RunAs, g.AccessTokenMinutes
		return v
	}
	allowed := append([]string{}, g.Allowed...)
	mfa, pwd, psrun := g.EnforceMFA, g.PasswordRequired, g.VerifyPSRUN
	v.EnforceMFA, v.UserPasswordRequired, v.VerifyPSRUNSignature, v.Allowed = &mfa, &pwd, &psrun, &allowed
	v.KeyMasked = "********" + g.KeyLast4
	return v
}

// apiRegBody is a create's body, and (every field optional) a PATCH's.
type apiRegBody struct {
	Name                      *string    `json:"name"`
	Type                      string     `json:"type,omitempty"`
	EnforceMFA                *bool      `json:"enforce_mfa"`
	ClientCertificateRequired *bool      `json:"client_certificate_required"`
	UserPasswordRequired      *bool      `json:"user_password_required"`
	VerifyPSRUNSignature      *bool      `json:"verify_psrun_signature"`
	Allowed                   *[]string  `json:"allowed"`
	Rules                     *[]APIRule `json:"rules"`
	RunAs                     *string    `json:"run_as"`
	AccessTokenMinutes        *int       `json:"access_token_minutes"`
}

func (b apiRegBody) spec() core.APIRegSpec {
	sp := core.APIRegSpec{Name: b.Name, Type: b.Type, EnforceMFA: b.EnforceMFA, ClientCertRequired: b.ClientCertificateRequired,
		PasswordRequired: b.UserPasswordRequired, VerifyPSRUN: b.VerifyPSRUNSignature, Allowed: b.Allowed, RunAs: b.RunAs,
		AccessTokenMinutes: b.AccessTokenMinutes}
	if b.Rules != nil {
		rules := make([]model.APIRule, 0, len(*b.Rules))
		for _, r := range *b.Rules {
			rules = append(rules, model.APIRule{ID: r.ID, Type: r.Type, Value: r.Value})
		}
		sp.Rules = &rules
	}
	return sp
}

func (s *Surface) apiRegRoutes() []api.Route {
	const perm = core.PermAPIRegistrationsManage
	return []api.Route{
		{Method: "POST", Pattern: "/api/v1/api-registrations", Permission: perm, Summary: "Create an API registration; answers its key (or client secret) once", Request: apiRegBody{}, Response: NewAPIRegistration{}, Status: 201, Handler: s.createAPIReg},
		{Method: "GET", Pattern: "/api/v1/api-registrations", Permission: perm, Summary: "List API registrations (no secrets)", Response: List[APIRegistration]{}, Handler: s.listAPIRegs},
		{Method: "GET", Pattern: "/api/v1/api-registrations/{id}", Permission: perm, Summary: "Show an API registration (no secrets)", Response: APIRegistration{}, Handler: s.getAPIReg},
		{Method: "PATCH", Pattern: "/api/v1/api-registrations/{id}", Permission: perm, Summary: "Update an API registration; its sessions end", Request: apiRegBody{}, Response: APIRegistration{}, Handler: s.patchAPIReg},
		{Method: "DELETE", Pattern: "/api/v1/api-registrations/{id}", Permission: perm, Summary: "Delete an API registration; its key and sessions stop working", Status: 204, Handler: s.deleteAPIReg},
		{Method: "GET", Pattern: "/api/v1/api-registrations/{id}/key", Permission: perm, Summary: "Show the key and PSRUN secret (or client id and secret); audited", Response: APIRegistrationSecrets{}, Handler: s.showAPIRegKey},
		{Method: "POST", Pattern: "/api/v1/api-registrations/{id}/rotate", Permission: perm, Summary: "Rotate the key (or client secret): the old one fails at once, sessions end", Response: APIRegistrationSecrets{}, Handler: s.rotateAPIRegKey},
		{Method: "POST", Pattern: "/api/v1/api-registrations/{id}/psrun-secret/rotate", Permission: perm, Summary: "Rotate the PSRUN secret", Response: APIRegistrationSecrets{}, Handler: s.rotatePSRUN},
	}
}

func (s *Surface) createAPIReg(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	var req apiRegBody
	if err := api.DecodeJSON(r, &req); err != nil {
		return err
	}
	g, sec, err := s.core.CreateAPIRegistration(r.Context(), rc.Access, req.spec())
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, NewAPIRegistration{APIRegistration: apiRegView(g), Key: sec.Key, PSRUNSecret: sec.PSRUNSecret,
		ClientSecret: sec.ClientSecret})
	return nil
}

func (s *Surface) listAPIRegs(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	gs, total, err := s.core.ListAPIRegistrations(r.Context(), rc.Access, pg)
	if err != nil {
		return err
	}
	out := List[APIRegistration]{Items: make([]APIRegistration, 0, len(gs)), Total: total}
	for _, g := range gs {
		out.Items = append(out.Items, apiRegView(g))
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Surface) getAPIReg(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	g, err := s.core.GetAPIRegistration(r.Context(), rc.Access, r.PathValue("id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, apiRegView(g))
	return nil
}

func (s *Surface) patchAPIReg(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	var req apiRegBody
	if err := api.DecodeJSON(r, &req); err != nil {
		return err
	}
	g, err := s.core.UpdateAPIRegistration(r.Context(), rc.Access, r.PathValue("id"), req.spec())
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, apiRegView(g))
	return nil
}

func (s *Surface) deleteAPIReg(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	if err := s.core.DeleteAPIRegistration(r.Context(), rc.Access, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func secretsView(sec core.APIRegSecrets) APIRegistrationSecrets {
	return APIRegistrationSecrets{Key: sec.Key, PSRUNSecret: sec.PSRUNSecret, ClientID: sec.ClientID, ClientSecret: sec.ClientSecret}
}

func (s *Surface) showAPIRegKey(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	sec, err := s.core.ShowAPIRegistrationKey(r.Context(), rc.Access, r.PathValue("id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, secretsView(sec))
	return nil
}

func (s *Surface) rotateAPIRegKey(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	sec, err := s.core.RotateAPIRegistrationKey(r.Context(), rc.Access, r.PathValue("id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, secretsView(sec))
	return nil
}

func (s *Surface) rotatePSRUN(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	sec, err := s.core.RotatePSRUNSecret(r.Context(), rc.Access, r.PathValue("id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, secretsView(sec))
	return nil
}
