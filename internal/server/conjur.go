package server

import "net/http"

// mountConjur registers the Conjur surface.
func mountConjur(mux *http.ServeMux, s *Server) {}
