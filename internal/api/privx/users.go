package privx

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/model"
)

// render turns a user's detail into PrivX's user object: every grant, or
// only those in effect now (resolve), with the MFA seed where the core
// shows it.
func (s *Surface) render(r *http.Request, rc *api.Ctx, d core.UserDetail, inEffectOnly bool) (User, error) {
	ctx := r.Context()
	counts, err := s.core.RoleMemberCounts(ctx, rc.Access)
	if err != nil {
		return User{}, err
	}
	seed, ok, err := s.core.MFASeed(ctx, rc.Access, d.Principal)
	if err != nil {
		return User{}, err
	}
	var sp *core.MFAEnrollment
	if ok {
		sp = &seed
	}
	grants := d.Grants
	if inEffectOnly {
		grants = d.InEffect()
	}
	return userView(d, grants, counts, sp, s.sourceType(r, d.Principal)), nil
}

// sourceType is a user's source type: LOCAL for native users.
func (s *Surface) sourceType(r *http.Request, p model.Principal) string {
	if p.Source == "" || p.Source == "local" {
		return "LOCAL"
	}
	return s.sourceTypeOf(r.Context(), p.Account, p)
}

func (s *Surface) getUser(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	return s.writeUser(w, r, rc, userID(r, rc), false, false)
}

func (s *Surface) resolveUser(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	return s.writeUser(w, r, rc, userID(r, rc), true, false)
}

func (s *Surface) currentUser(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	return s.writeUser(w, r, rc, rc.Session().PrincipalID, false, true)
}

// userDetail is GetUserDetail for PrivX, which knows users only: a host's
// id is answered as a missing one.
func (s *Surface) userDetail(r *http.Request, rc *api.Ctx, id string) (core.UserDetail, error) {
	d, err := s.core.GetUserDetail(r.Context(), rc.Access, id)
	if err == nil && d.Principal.Kind != model.KindUser {
		return core.UserDetail{}, &core.Error{Kind: core.NotFound, Msg: "user " + id + " not found"}
	}
	return d, err
}

// user is GetPrincipal for PrivX: users only.
func (s *Surface) user(r *http.Request, rc *api.Ctx, id string) (model.Principal, error) {
	p, err := s.core.GetPrincipal(r.Context(), rc.Access, id)
	if err == nil && p.Kind != model.KindUser {
		return model.Principal{}, &core.Error{Kind: core.NotFound, Msg: "user " + id + " not found"}
	}
	return p, err
}

func (s *Surface) writeUser(w http.ResponseWriter, r *http.Request, rc *api.Ctx, id string, inEffectOnly, settings bool) error {
	d, err := s.userDetail(r, rc, id)
	if err != nil {
		return err
	}
	u, err := s.render(r, rc, d, inEffectOnly)
	if err != nil {
		return err
	}
	if settings {
		u.Settings = settingsOf(d.Principal)
	}
	api.WriteJSON(w, http.StatusOK, u)
	return nil
}

func settingsOf(p model.Principal) json.RawMessage {
	if len(p.Settings) == 0 || p.Settings[0] != '{' {
		return json.RawMessage("{}")
	}
	return p.Settings
}

func (s *Surface) getSettings(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	p, err := s.user(r, rc, userID(r, rc))
	if err != nil {
		return err
	}
	api.WriteJSONBytes(w, http.StatusOK, append(append([]byte(nil), settingsOf(p)...), '\n'))
	return nil
}

func (s *Surface) putSettings(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	body, err := api.ReadBody(r)
	if err != nil {
		return err
	}
	id := userID(r, rc)
	if _, err := s.core.SetSettings(r.Context(), rc.Access, id, body); err != nil {
		return err
	}
	return s.writeUser(w, r, rc, id, false, false)
}

func (s *Surface) userRoles(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	d, err := s.userDetail(r, rc, userID(r, rc))
	if err != nil {
		return err
	}
	counts, err := s.core.RoleMemberCounts(r.Context(), rc.Access)
	if err != nil {
		return err
	}
	out := List[GrantItem]{Count: len(d.Grants), Items: make([]GrantItem, 0, len(d.Grants))}
	for _, g := range d.Grants {
		out.Items = append(out.Items, grantItem(g, counts))
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// putUserRoles makes the user's explicit grants exactly the roles listed:
// of each only id, grant_type, grant_validity_periods, grant_start and
// grant_end (one period) and floating_length count.
func (s *Surface) putUserRoles(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	body, err := api.ReadBody(r)
	if err != nil {
		return err
	}
	var items []json.RawMessage
	if err := json.Unmarshal(body, &items); err != nil || items == nil {
		return badRequest("roles", "body must be a JSON array of roles")
	}
	specs := make([]core.GrantSpec, 0, len(items))
	for _, raw := range items {
		o, err := parseObject(raw, "roles")
		if err != nil {
			return err
		}
		sp, err := grantSpec(o)
		if err != nil {
			return err
		}
		specs = append(specs, sp)
	}
	_, err = s.core.SetGrants(r.Context(), rc.Access, userID(r, rc), specs)
	if err != nil {
		return renamed(err, map[string]string{"roles": "id", "periods": "grant_validity_periods", "type": "grant_type"})
	}
	empty(w)
	return nil
}

func grantSpec(o object) (core.GrantSpec, error) {
	var sp core.GrantSpec
	var err error
	if sp.RoleID, err = o.str("id"); err != nil {
		return sp, err
	}
	if sp.RoleID == "" {
		return sp, badRequest("id", "every role needs an id")
	}
	if sp.Type, err = o.str("grant_type"); err != nil {
		return sp, err
	}
	fl, err := o.integer("floating_length")
	if err != nil {
		return sp, err
	}
	sp.FloatingLength = int(fl)
	var periods []map[string]json.RawMessage
	if _, err := o.decode("grant_validity_periods", "an array of periods", &periods); err != nil {
		return sp, err
	}
	for _, p := range periods {
		po := object(p)
		start, err := po.time("grant_start")
		if err != nil {
			return sp, renamed(err, map[string]string{"grant_start": "grant_validity_periods"})
		}
		end, err := po.time("grant_end")
		if err != nil || start == nil || end == nil {
			return sp, badRequest("grant_validity_periods", "every period needs grant_start and grant_end (RFC 3339)")
		}
		sp.Periods = append(sp.Periods, model.Period{Start: *start, End: *end})
	}
	start, err := o.time("grant_start")
	if err != nil {
		return sp, err
	}
	end, err := o.time("grant_end")
	if err != nil {
		return sp, err
	}
	if start != nil && end != nil && sp.Type == model.GrantTimeRestricted {
		sp.Periods = append(sp.Periods, model.Period{Start: *start, End: *end})
	}
	return sp, nil
}

func readSearch(r *http.Request) (core.UserQuery, error) {
	o, err := readObject(r)
	if err != nil {
		return core.UserQuery{}, err
	}
	var q core.UserQuery
	if q.Keywords, err = o.str("keywords"); err != nil {
		return q, err
	}
	if q.Source, err = o.str("source"); err != nil {
		return q, err
	}
	ids, ok, err := o.strs("user_id")
	if err != nil {
		return q, err
	}
	if ok {
		q.IDs = orEmpty(ids)
	}
	return q, nil
}

func (s *Surface) searchUsers(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	pg, err := readPaging(r)
	if err != nil {
		return err
	}
	if err := pg.sortKeys(r, "principal"); err != nil {
		return err
	}
	q, err := readSearch(r)
	if err != nil {
		return err
	}
	ps, total, err := s.core.SearchUsers(r.Context(), rc.Access, q, pg.users())
	if err != nil {
		return err
	}
	return s.writeUsers(w, r, rc, ps, total)
}

// writeUsers answers one page of users as full user objects.
func (s *Surface) writeUsers(w http.ResponseWriter, r *http.Request, rc *api.Ctx, ps []model.Principal, total int) error {
	out := List[User]{Count: total, Items: make([]User, 0, len(ps))}
	for _, p := range ps {
		d, err := s.core.GetUserDetail(r.Context(), rc.Access, p.ID)
		if err != nil {
			return err
		}
		u, err := s.render(r, rc, d, false)
		if err != nil {
			return err
		}
		out.Items = append(out.Items, u)
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Surface) mfa(action string) func(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	return func(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
		body, err := api.ReadBody(r)
		if err != nil {
			return err
		}
		var ids []string
		if err := json.Unmarshal(body, &ids); err != nil || ids == nil {
			return badRequest("user_ids", "body must be a JSON array of user ids")
		}
		if err := s.core.SetMFA(r.Context(), rc.Access, action, ids); err != nil {
			return err
		}
		empty(w)
		return nil
	}
}

// AWSRole is an AWS role the caller may assume through its roles in effect.
type AWSRole struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	ARN         string     `json:"arn"`
	Description string     `json:"description"`
	Source      string     `json:"source"`
	Status      string     `json:"status"`
	Roles       []RoleLink `json:"roles"`
	Updated     string     `json:"updated"`
}

// RoleLink names a role.
type RoleLink struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func (s *Surface) awsRoles(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	d, err := s.core.GetUserDetail(r.Context(), rc.Access, rc.Session().PrincipalID)
	if err != nil {
		return err
	}
	byARN := map[string]*AWSRole{}
	var latest = map[string]time.Time{}
	var order []string
	for _, g := range d.InEffect() {
		arn := g.Role.ARN
		if arn == "" {
			continue
		}
		a, ok := byARN[arn]
		if !ok {
			name := arn[lastSlash(arn)+1:]
			a = &AWSRole{ID: arn, Name: name, ARN: arn, Status: "OK", Roles: []RoleLink{}}
			byARN[arn] = a
			order = append(order, arn)
		}
		a.Roles = append(a.Roles, RoleLink{ID: g.Role.ID, Name: g.Role.Name})
		if g.Role.UpdatedAt.After(latest[arn]) {
			latest[arn] = g.Role.UpdatedAt
		}
	}
	slices.Sort(order)
	out := List[AWSRole]{Count: len(order), Items: make([]AWSRole, 0, len(order))}
	for _, arn := range order {
		a := byARN[arn]
		a.Updated = stamp(latest[arn])
		out.Items = append(out.Items, *a)
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}
