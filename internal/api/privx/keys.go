package privx

import (
	"net/http"
	"time"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/model"
)

// readKey reads an authorized key body: name, comment, public_key,
// not_before, not_after, expires_in, source_address; the rest is ignored.
func readKey(r *http.Request) (core.AuthorizedKeySpec, error) {
	o, err := readObject(r)
	if err != nil {
		return core.AuthorizedKeySpec{}, err
	}
	var spec core.AuthorizedKeySpec
	for _, f := range []struct {
		name string
		dst  *string
	}{{"name", &spec.Name}, {"comment", &spec.Comment}, {"public_key", &spec.PublicKey}} {
		if *f.dst, err = o.str(f.name); err != nil {
			return spec, err
		}
	}
	if spec.NotBefore, err = o.time("not_before"); err != nil {
		return spec, err
	}
	if spec.NotAfter, err = o.time("not_after"); err != nil {
		return spec, err
	}
	if spec.ExpiresIn, err = o.integer("expires_in"); err != nil {
		return spec, err
	}
	spec.SourceAddress, _, err = o.strs("source_address")
	return spec, err
}

func (s *Surface) createKey(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	spec, err := readKey(r)
	if err != nil {
		return err
	}
	k, err := s.core.CreateAuthorizedKey(r.Context(), rc.Access, userID(r, rc), spec)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, map[string]string{"id": k.ID})
	return nil
}

func (s *Surface) owner(r *http.Request, rc *api.Ctx) (model.Principal, error) {
	return s.user(r, rc, userID(r, rc))
}

func (s *Surface) listKeys(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	pg, err := readPaging(r)
	if err != nil {
		return err
	}
	if err := pg.sortKeys(r, "name"); err != nil {
		return err
	}
	p, err := s.owner(r, rc)
	if err != nil {
		return err
	}
	ks, err := s.core.ListAuthorizedKeys(r.Context(), rc.Access, p.ID)
	if err != nil {
		return err
	}
	total := len(ks)
	ks = page(pg, ks, func(k model.AuthorizedKey) string { return k.Name }, func(k model.AuthorizedKey) time.Time { return k.CreatedAt },
		func(k model.AuthorizedKey) string { return k.ID })
	out := List[AuthorizedKey]{Count: total, Items: make([]AuthorizedKey, 0, len(ks))}
	for _, k := range ks {
		out.Items = append(out.Items, keyView(k, p))
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Surface) getKey(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	p, err := s.owner(r, rc)
	if err != nil {
		return err
	}
	k, err := s.core.GetAuthorizedKey(r.Context(), rc.Access, p.ID, r.PathValue("key_id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, keyView(k, p))
	return nil
}

func (s *Surface) putKey(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	spec, err := readKey(r)
	if err != nil {
		return err
	}
	k, err := s.core.ReplaceAuthorizedKey(r.Context(), rc.Access, userID(r, rc), r.PathValue("key_id"), spec)
	if err != nil {
		return err
	}
	p, err := s.owner(r, rc)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, keyView(k, p))
	return nil
}

func (s *Surface) deleteKey(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	if err := s.core.DeleteAuthorizedKey(r.Context(), rc.Access, userID(r, rc), r.PathValue("key_id")); err != nil {
		return err
	}
	empty(w)
	return nil
}
