package native

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/model"
)

type userCreate struct {
	Login        string            `json:"login"`
	Kind         string            `json:"kind"`
	Password     *string           `json:"password"`
	RestrictedTo []string          `json:"restricted_to"`
	Email        string            `json:"email"`
	DisplayName  string            `json:"display_name"`
	FullName     string            `json:"full_name"`
	Attributes   map[string]string `json:"attributes"`
	Tags         []string          `json:"tags"`
	Source       string            `json:"source"`
	Settings     json.RawMessage   `json:"settings"`
	Annotations  map[string]string `json:"annotations"`
	Customer     string            `json:"customer"`
}

func (s *Surface) createUser(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	var req userCreate
	if err := api.DecodeJSON(r, &req); err != nil {
		return err
	}
	p, key, err := s.core.CreatePrincipal(r.Context(), rc.Access, core.PrincipalSpec{
		Login: req.Login, Kind: req.Kind, Password: req.Password, RestrictedTo: req.RestrictedTo, Email: req.Email,
		DisplayName: req.DisplayName, FullName: req.FullName, Attributes: req.Attributes, Tags: req.Tags, Source: req.Source,
		Settings: req.Settings, Annotations: req.Annotations, Customer: req.Customer})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, CreatedUser{User: userView(p), APIKey: key})
	return nil
}

// page reads limit, offset and search from the query.
func page(r *http.Request) (core.Page, error) {
	q := r.URL.Query()
	var p core.Page
	p.Search = q.Get("search")
	for name, dst := range map[string]*int{"limit": &p.Limit, "offset": &p.Offset} {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return p, &core.Error{Kind: core.Invalid, Field: name, Msg: name + " must be a non-negative integer"}
			}
			*dst = n
		}
	}
	return p, nil
}

func (s *Surface) listUsers(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	ps, total, err := s.core.ListPrincipals(r.Context(), rc.Access, pg)
	if err != nil {
		return err
	}
	out := List[User]{Items: make([]User, 0, len(ps)), Total: total}
	for _, p := range ps {
		out.Items = append(out.Items, userView(p))
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Surface) getUser(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	p, err := s.core.GetPrincipal(r.Context(), rc.Access, r.PathValue("id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, userView(p))
	return nil
}

type userPatch struct {
	Password     *string            `json:"password"`
	RestrictedTo *[]string          `json:"restricted_to"`
	Annotations  map[string]*string `json:"annotations"`
	Status       *string            `json:"status"`
	Email        *string            `json:"email"`
	DisplayName  *string            `json:"display_name"`
	FullName     *string            `json:"full_name"`
	Attributes   *map[string]string `json:"attributes"`
	Tags         *[]string          `json:"tags"`
	Source       *string            `json:"source"`
	Settings     *json.RawMessage   `json:"settings"`
	Login        *string            `json:"login"`
	Kind         *string            `json:"kind"`
	Customer     *string            `json:"customer"`
}

func (s *Surface) patchUser(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	var req userPatch
	if err := api.DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.Login != nil {
		return &core.Error{Kind: core.Invalid, Field: "login", Msg: "login cannot be changed"}
	}
	if req.Kind != nil {
		return &core.Error{Kind: core.Invalid, Field: "kind", Msg: "kind cannot be changed"}
	}
	p, err := s.core.UpdatePrincipal(r.Context(), rc.Access, r.PathValue("id"), core.PrincipalPatch{
		Password: req.Password, RestrictedTo: req.RestrictedTo, Annotations: req.Annotations, Status: req.Status, Email: req.Email,
		DisplayName: req.DisplayName, FullName: req.FullName, Attributes: req.Attributes, Tags: req.Tags, Source: req.Source, Settings: req.Settings,
		Customer: req.Customer})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, userView(p))
	return nil
}

func (s *Surface) deleteUser(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	if err := s.core.DeletePrincipal(r.Context(), rc.Access, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type grantsRequest struct {
	Roles []grantItem `json:"roles"`
}

type grantItem struct {
	ID             string         `json:"id"`
	Type           string         `json:"type"`
	Periods        []model.Period `json:"periods"`
	FloatingLength int            `json:"floating_length"`
}

type grantsResponse struct {
	Roles []Grant `json:"roles"`
}

func (s *Surface) setGrants(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	var req grantsRequest
	if err := api.DecodeJSON(r, &req); err != nil {
		return err
	}
	specs := make([]core.GrantSpec, 0, len(req.Roles))
	for _, g := range req.Roles {
		if g.ID == "" {
			return &core.Error{Kind: core.Invalid, Field: "roles", Msg: "every role needs an id"}
		}
		specs = append(specs, core.GrantSpec{RoleID: g.ID, Type: g.Type, Periods: g.Periods, FloatingLength: g.FloatingLength})
	}
	gs, err := s.core.SetGrants(r.Context(), rc.Access, r.PathValue("id"), specs)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, grantsResponse{Roles: grantViews(gs)})
	return nil
}

func (s *Surface) listGrants(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	gs, err := s.core.ListGrants(r.Context(), rc.Access, r.PathValue("id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, grantsResponse{Roles: grantViews(gs)})
	return nil
}

// passwordChange is PUT /api/v1/users/{id}/password's body.
type passwordChange struct {
	Password string `json:"password"`
}

// setPassword is PUT /api/v1/users/{id}/password: one's own password
// through the core's self-service change (as Conjur's PUT
// /authn/{account}/password), another's as PATCH /api/v1/users/{id} sets it
// (users-manage, checked by the pipeline and the core).
func (s *Surface) setPassword(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	var req passwordChange
	if err := api.DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.Password == "" {
		return &core.Error{Kind: core.Invalid, Field: "password", Msg: "password is required"}
	}
	var err error
	if id := r.PathValue("id"); id == rc.Access.Session.PrincipalID {
		err = s.core.ChangePassword(r.Context(), rc.Access, req.Password)
	} else {
		_, err = s.core.UpdatePrincipal(r.Context(), rc.Access, id, core.PrincipalPatch{Password: &req.Password})
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
