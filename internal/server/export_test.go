package server

// Patterns returns every ServeMux pattern s registered: each surface's
// routes ("METHOD /path") and its fallbacks (a bare prefix).
func Patterns(s *Server) []string { return s.patterns }
