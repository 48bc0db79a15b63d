package server

import (
	"encoding/json"
	"net/http"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
)

// service is the surface of the service's own routes (health, readiness,
// metrics, JWKS, the OpenAPI document): public, answering errors as the
// native API does, and documented like every other surface's.
type service struct {
	s    *Server
	errs api.ErrorTable
	// doc is the OpenAPI document, built once all surfaces exist.
	doc func() []byte
}

func (sv *service) Name() string                        { return "service" }
func (sv *service) Prefixes() []string                  { return nil }
func (sv *service) Wrap(next http.Handler) http.Handler { return next }
func (sv *service) Errors() api.ErrorTable              { return sv.errs }
func (sv *service) Extract(*http.Request) (core.Credential, bool, error) {
	return core.Credential{}, false, nil
}

// healthBody is the answer of /healthz and /readyz.
type healthBody struct {
	Status string `json:"status"`
}

// jwksBody is a JSON Web Key Set (RFC 7517): one Ed25519 public key per
// account's current and retired token signing keys.
type jwksBody struct {
	Keys []jwk `json:"keys"`
}

type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
}

// openAPIDoc stands for the OpenAPI document in its own description.
type openAPIDoc map[string]any

func (sv *service) Routes() []api.Route {
	rs := []api.Route{
		{Method: "GET", Pattern: "/api/v1/openapi.json", Public: true, Summary: "This OpenAPI document", Response: openAPIDoc{},
			Handler: func(w http.ResponseWriter, r *http.Request, _ *api.Ctx) error {
				api.WriteJSONBytes(w, http.StatusOK, sv.doc())
				return nil
			}},
		{Method: "GET", Pattern: "/.well-known/jwks.json", Public: true, Summary: "Public keys that verify keyward's access tokens",
			Response: jwksBody{}, Handler: func(w http.ResponseWriter, r *http.Request, _ *api.Ctx) error {
				// Stale caches (a PostgreSQL listener without proof of life)
				// may list a retired set: refuse rather than mislead.
				if err := sv.s.Core.Fresh(); err != nil {
					return err
				}
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Cache-Control", "public, max-age=60")
				_, _ = w.Write(sv.s.Core.JWKS())
				return nil
			}},
		{Method: "GET", Pattern: "/healthz", Public: true, Summary: "Liveness: the process answers", Response: healthBody{},
			Handler: func(w http.ResponseWriter, r *http.Request, _ *api.Ctx) error {
				api.WriteJSON(w, http.StatusOK, healthBody{Status: "ok"})
				return nil
			}},
		{Method: "GET", Pattern: "/readyz", Public: true, Summary: "Readiness: the store answers (503 otherwise)", Response: healthBody{},
			Handler: func(w http.ResponseWriter, r *http.Request, _ *api.Ctx) error {
				if err := sv.s.Core.Ready(r.Context()); err != nil {
					api.WriteJSON(w, http.StatusServiceUnavailable, healthBody{Status: "unavailable"})
					return nil
				}
				api.WriteJSON(w, http.StatusOK, healthBody{Status: "ready"})
				return nil
			}},
	}
	if sv.s.cfg.MetricsListen == "" {
		rs = append(rs, api.Route{Method: "GET", Pattern: "/metrics", Public: true,
			Summary:  "Prometheus metrics (here unless --metrics-listen moves them to their own listener)",
			Response: api.Media{"text/plain": ""},
			Handler: func(w http.ResponseWriter, r *http.Request, _ *api.Ctx) error {
				sv.s.metrics.handler().ServeHTTP(w, r)
				return nil
			}})
	}
	return rs
}

// marshalDoc encodes the OpenAPI document once.
func marshalDoc(doc map[string]any) []byte {
	b, err := json.Marshal(doc)
	if err != nil {
		panic("openapi: " + err.Error()) // a document of maps, slices and strings always encodes
	}
	return b
}

// Describe says what the surface is, for the OpenAPI document's tag.
func (sv *service) Describe() string {
	return "The service's own routes: liveness, readiness, Prometheus metrics, the token verification keys, this document."
}
