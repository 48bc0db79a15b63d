package native

import (
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/model"
)

type roleBody struct {
	Name        string             `json:"name"`
	Description string             `json:"description"`
	Permissions []string           `json:"permissions"`
	Context     *model.RoleContext `json:"context"`
}

func (b roleBody) spec() core.RoleSpec {
	return core.RoleSpec{Name: b.Name, Description: b.Description, Permissions: b.Permissions, Context: b.Context}
}

func (s *Surface) createRole(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	var req roleBody
	if err := api.DecodeJSON(r, &req); err != nil {
		return err
	}
	ro, err := s.core.CreateRole(r.Context(), rc.Access, req.spec())
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, roleView(ro))
	return nil
}

func (s *Surface) listRoles(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	rs, total, err := s.core.ListRoles(r.Context(), rc.Access, pg)
	if err != nil {
		return err
	}
	out := List[Role]{Items: make([]Role, 0, len(rs)), Total: total}
	for _, ro := range rs {
		out.Items = append(out.Items, roleView(ro))
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Surface) getRole(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	ro, err := s.core.GetRole(r.Context(), rc.Access, r.PathValue("id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, roleView(ro))
	return nil
}

func (s *Surface) putRole(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	var req roleBody
	if err := api.DecodeJSON(r, &req); err != nil {
		return err
	}
	ro, err := s.core.ReplaceRole(r.Context(), rc.Access, r.PathValue("id"), req.spec())
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, roleView(ro))
	return nil
}

func (s *Surface) deleteRole(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	if err := s.core.DeleteRole(r.Context(), rc.Access, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Surface) listAudit(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	q := r.URL.Query()
	// A filter given twice is refused rather than half honoured.
	for _, name := range []string{"event", "outcome", "actor", "key_id", "client_ip", "since", "until", "limit", "offset"} {
		if len(q[name]) > 1 {
			return &core.Error{Kind: core.Invalid, Field: name, Msg: name + " may be given once"}
		}
	}
	var limit, offset int
	for _, name := range []string{"limit", "offset"} {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return &core.Error{Kind: core.Invalid, Field: name, Msg: name + " must be a non-negative integer"}
			}
			if name == "limit" {
				limit = n
			} else {
				offset = n
			}
		}
	}
	f, err := auditFilter(q)
	if err != nil {
		return err
	}
	rs, total, err := s.core.ListAuditFiltered(r.Context(), rc.Access, f, limit, offset)
	if err != nil {
		return err
	}
	if rs == nil {
		rs = []AuditRecord{}
	}
	api.WriteJSON(w, http.StatusOK, List[AuditRecord]{Items: rs, Total: total})
	return nil
}

// auditFilter reads the audit listing's filters: exact matches, client_ip
// an address, since/until RFC 3339 times.
func auditFilter(q url.Values) (core.AuditFilter, error) {
	f := core.AuditFilter{Event: q.Get("event"), Outcome: q.Get("outcome"), Actor: q.Get("actor"), KeyID: q.Get("key_id")}
	if f.Outcome != "" && f.Outcome != "success" && f.Outcome != "failure" {
		return f, &core.Error{Kind: core.Invalid, Field: "outcome", Msg: "outcome must be success or failure"}
	}
	if v := q.Get("client_ip"); v != "" {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return f, &core.Error{Kind: core.Invalid, Field: "client_ip", Msg: "client_ip must be an IP address"}
		}
		f.ClientIP = a.Unmap().String()
	}
	for _, name := range []string{"since", "until"} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return f, &core.Error{Kind: core.Invalid, Field: name, Msg: name + " must be an RFC 3339 time"}
		}
		if name == "since" {
			f.Since = t
		} else {
			f.Until = t
		}
	}
	return f, nil
}

func (s *Surface) rotateSigningKey(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	if err := s.core.RotateSigningKey(r.Context(), rc.Access); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
