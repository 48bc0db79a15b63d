package server

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keyward/keyward/internal/netpolicy"
)

// BenchmarkAccessLog is the middleware around a trivial handler with the
// access log on (JSON, to io.Discard) and off: what one line per request costs.
func BenchmarkAccessLog(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			s := &Server{cfg: Config{MaxBody: 1 << 20, TrustedProxies: netpolicy.DefaultTrusted(), AccessLog: on},
				log: slog.New(slog.NewJSONHandler(io.Discard, nil)), metrics: newMetrics(), rids: newRequestIDs()}
			mux := http.NewServeMux()
			mux.HandleFunc("GET /api/v1/users/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
			h := s.middleware(mux)
			req := httptest.NewRequest("GET", "/api/v1/users/abc", nil)
			req.RemoteAddr = "127.0.0.1:1234"
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}
