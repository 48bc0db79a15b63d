package server

import (
	"net/http"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/api/conjur"
)

// mountConjur registers the Conjur surface: its routes are named per
// authenticator type, so none collides with /api/v1/….
func mountConjur(mux *http.ServeMux, s *Server) {
	surface := conjur.New(s.Core, s.log)
	api.Mount(mux, surface, s.Core, surface.Routes())
}
