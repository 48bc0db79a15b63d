package privx

import (
	"net/http"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/model"
)

// roleNames maps the core's role fields to PrivX's members.
var roleNames = map[string]string{"description": "comment", "context.*": "context", "source_rules": "source_rules"}

// readRole reads a role body: name, comment, permissions, arn, context
// (read only when enabled) and source_rules; the rest is ignored.
func readRole(r *http.Request) (core.RoleSpec, error) {
	o, err := readObject(r)
	if err != nil {
		return core.RoleSpec{}, err
	}
	var spec core.RoleSpec
	if spec.Name, err = o.str("name"); err != nil {
		return spec, err
	}
	if spec.Description, err = o.str("comment"); err != nil {
		return spec, err
	}
	if spec.Permissions, _, err = o.strs("permissions"); err != nil {
		return spec, err
	}
	if spec.ARN, err = o.str("arn"); err != nil {
		return spec, err
	}
	if spec.Context, err = readContext(o); err != nil {
		return spec, err
	}
	spec.SourceRules, err = readSourceRules(o)
	return spec, err
}

func readContext(o object) (*model.RoleContext, error) {
	c, ok, err := o.object("context")
	if err != nil || !ok {
		return nil, err
	}
	rename := func(err error) error {
		return renamed(err, map[string]string{"enabled": "context", "block_role": "context", "validity": "context", "start_time": "context", "end_time": "context", "timezone": "context", "ip_masks": "context"})
	}
	enabled, err := c.boolean("enabled")
	if err != nil || !enabled {
		return nil, rename(err)
	}
	rc := &model.RoleContext{}
	if rc.Block, err = c.boolean("block_role"); err != nil {
		return nil, rename(err)
	}
	if rc.Weekdays, _, err = c.strs("validity"); err != nil {
		return nil, rename(err)
	}
	for i, d := range rc.Weekdays {
		rc.Weekdays[i] = strings.ToUpper(d)
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"start_time", &rc.StartTime}, {"end_time", &rc.EndTime}, {"timezone", &rc.TimeZone}} {
		if *f.dst, err = c.str(f.name); err != nil {
			return nil, rename(err)
		}
	}
	if rc.IPMasks, _, err = c.strs("ip_masks"); err != nil {
		return nil, rename(err)
	}
	return rc, nil
}

func readSourceRules(o object) (*model.SourceRules, error) {
	sr, ok, err := o.object("source_rules")
	if err != nil || !ok {
		return nil, err
	}
	bad := func() error {
		return badRequest("source_rules", `source_rules must be {"type":"GROUP","match":"ANY"|"ALL","rules":[{"type":"RULE","source","search_string"}]}`)
	}
	var rules []map[string]any
	if _, err := sr.decode("rules", "an array of rules", &rules); err != nil || len(rules) == 0 {
		return nil, err
	}
	match, err := sr.str("match")
	if err != nil {
		return nil, err
	}
	if match == "" {
		match = model.MatchAny
	}
	out := &model.SourceRules{Match: strings.ToUpper(match)}
	for _, r := range rules {
		src, ok1 := r["source"].(string)
		group, ok2 := r["search_string"].(string)
		if !ok1 || !ok2 {
			return nil, bad()
		}
		out.Rules = append(out.Rules, model.SourceRule{Source: src, Group: group})
	}
	return out, nil
}

func (s *Surface) createRole(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	spec, err := readRole(r)
	if err != nil {
		return err
	}
	ro, err := s.core.CreateRole(r.Context(), rc.Access, spec)
	if err != nil {
		return renamed(err, roleNames)
	}
	api.WriteJSON(w, http.StatusCreated, map[string]string{"id": ro.ID})
	return nil
}

func (s *Surface) getRole(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	ro, err := s.core.GetRole(r.Context(), rc.Access, r.PathValue("id"))
	if err != nil {
		return err
	}
	counts, err := s.core.RoleMemberCounts(r.Context(), rc.Access)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, roleView(ro, counts))
	return nil
}

func (s *Surface) putRole(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	spec, err := readRole(r)
	if err != nil {
		return err
	}
	ro, err := s.core.ReplaceRole(r.Context(), rc.Access, r.PathValue("id"), spec)
	if err != nil {
		return renamed(err, roleNames)
	}
	counts, err := s.core.RoleMemberCounts(r.Context(), rc.Access)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, roleView(ro, counts))
	return nil
}

func (s *Surface) deleteRole(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	if err := s.core.DeleteRole(r.Context(), rc.Access, r.PathValue("id")); err != nil {
		return err
	}
	empty(w)
	return nil
}

func (s *Surface) listRoles(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	pg, err := readPaging(r)
	if err != nil {
		return err
	}
	if err := pg.sortKeys(r, "name"); err != nil {
		return err
	}
	var all []model.Role
	for {
		rs, total, err := s.core.ListRoles(r.Context(), rc.Access, core.Page{Limit: 1000, Offset: len(all)})
		if err != nil {
			return err
		}
		all = append(all, rs...)
		if len(rs) == 0 || len(all) >= total {
			break
		}
	}
	counts, err := s.core.RoleMemberCounts(r.Context(), rc.Access)
	if err != nil {
		return err
	}
	total := len(all)
	all = page(pg, all, func(r model.Role) string { return r.Name }, func(r model.Role) time.Time { return r.CreatedAt },
		func(r model.Role) string { return r.ID })
	out := List[Role]{Count: total, Items: make([]Role, 0, len(all))}
	for _, ro := range all {
		out.Items = append(out.Items, roleView(ro, counts))
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Surface) roleMembers(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	pg, err := readPaging(r)
	if err != nil {
		return err
	}
	if err := pg.sortKeys(r, "principal"); err != nil {
		return err
	}
	ps, total, err := s.core.RoleMembers(r.Context(), rc.Access, r.PathValue("id"), pg.users())
	if err != nil {
		return err
	}
	return s.writeUsers(w, r, rc, ps, total)
}
