package conjur_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/authn/jwt/jwttest"
	"github.com/keyward/keyward/internal/server"
)

func TestWhoami(t *testing.T) {
	e := newEnv(t)
	app := e.host("apps/myapp", nil)
	hostTok := e.tokenHeader(e.token("host/apps/myapp", app.key))
	cases := []struct {
		name, auth, username string
	}{
		{"admin", e.admin, "admin"},
		{"host", hostTok, "host/apps/myapp"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("GET", "/whoami", nil, "Authorization", tc.auth, "User-Agent", "conjur-test/1")
			r.expect(t, 200, nil)
			var got map[string]any
			if err := json.Unmarshal([]byte(r.body), &got); err != nil {
				t.Fatal(err)
			}
			if got["account"] != account || got["username"] != tc.username || got["client_ip"] != "127.0.0.1" || got["user_agent"] != "conjur-test/1" {
				t.Fatalf("whoami %s", r.body)
			}
			at, err := time.Parse("2006-01-02T15:04:05.000-07:00", got["token_issued_at"].(string))
			if err != nil || time.Since(at) > time.Minute {
				t.Fatalf("token_issued_at %v (%v)", got["token_issued_at"], err)
			}
			if !strings.HasPrefix(r.body, `{"client_ip":`) {
				t.Fatalf("field order differs from Conjur's: %s", r.body)
			}
		})
	}
	forged := e.token("admin", e.adminKey)
	forged = strings.Replace(forged, `"signature":"`, `"signature":"AAAA`, 1)
	for name, auth := range map[string]string{
		"no token":        "",
		"Basic":           basic("admin", e.adminKey),
		"malformed token": `Token token="%%%"`,
		"forged token":    e.tokenHeader(forged),
		"token of JSON":   `Token token="` + base64.StdEncoding.EncodeToString([]byte(`{"protected":"e30=","payload":"e30=","signature":"AA=="}`)) + `"`,
	} {
		t.Run(name, func(t *testing.T) {
			var h []string
			if auth != "" {
				h = []string{"Authorization", auth}
			}
			e.do("GET", "/whoami", nil, h...).expect(t, 401, empty)
		})
	}
}

func TestRequestIDAudited(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/whoami", nil, "Authorization", e.admin, "X-Request-Id", "req-whoami")
	r.expect(t, 200, nil)
	if r.header.Get("X-Request-Id") != "req-whoami" {
		t.Fatalf("X-Request-Id %q", r.header.Get("X-Request-Id"))
	}
	e.authn("admin", e.adminKey, "X-Request-Id", "req-authn-ok").expect(t, 200, nil)
	e.authn("host/ghost", "kw_bad", "X-Request-Id", "req-authn-bad").expect(t, 401, empty)
	r = e.authn("admin", "bad")
	if len(r.header.Get("X-Request-Id")) < 16 {
		t.Fatalf("generated X-Request-Id %q", r.header.Get("X-Request-Id"))
	}
	var page struct {
		Items []struct {
			Event, Outcome, Actor, Authenticator string
			RequestID                            string `json:"request_id"`
		} `json:"items"`
	}
	body := e.do("GET", "/api/v1/audit?limit=1000", nil, "Authorization", e.admin)
	body.expect(t, 200, nil)
	if err := json.Unmarshal([]byte(body.body), &page); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // request id -> event outcome actor
		"req-whoami":    "whoami success myorg:user:admin",
		"req-authn-ok":  "authn success myorg:user:admin",
		"req-authn-bad": "authn failure myorg:host:ghost",
	}
	for _, rec := range page.Items {
		if w, ok := want[rec.RequestID]; ok && w == rec.Event+" "+rec.Outcome+" "+rec.Actor {
			delete(want, rec.RequestID)
		}
	}
	if len(want) > 0 {
		t.Fatalf("no audit record for %v in %s", want, body.body)
	}
}

func TestConjurTokenOnNativeAPI(t *testing.T) {
	e := newEnv(t)
	e.do("GET", "/api/v1/users", nil, "Authorization", e.admin).expect(t, 200, nil)
	e.do("GET", "/api/v1/users", nil).expect(t, 401, nil)
}

func TestRoot(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/", nil)
	r.expect(t, 200, nil)
	if !strings.Contains(r.body, "is running!") || !strings.Contains(r.body, "<dd>Version "+server.Version+"</dd>") ||
		!strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("root page %s: %s", r.header.Get("Content-Type"), r.body)
	}
	for _, accept := range []string{"application/json", "application/json, text/html"} {
		e.do("GET", "/", nil, "Accept", accept).expect(t, 200, ptr(`{"version":"`+server.Version+`","services":{"authn":"ok"}}`))
	}
	e.do("GET", "/nothing-here", nil).expect(t, 404, nil)
}

func TestAuthenticatorsList(t *testing.T) {
	installed := `"installed":["authn","authn-azure","authn-gcp","authn-iam","authn-jwt","authn-k8s","authn-ldap","authn-oidc"]`
	t.Run("store", func(t *testing.T) {
		e := newEnv(t)
		e.do("GET", "/authenticators", nil).expect(t, 200, ptr(`{`+installed+`,"configured":["authn"],"enabled":["authn"]}`))
		jwks := jwttest.NewIssuer(t).PublicKeys()
		e.putAuthenticator("authn-jwt/ci", true, map[string]string{"public-keys": jwks, "issuer": "https://ci.example"})
		e.putAuthenticator("authn-jwt/off", false, map[string]string{"public-keys": jwks, "issuer": "https://ci.example"})
		e.do("GET", "/authenticators", nil).expect(t, 200,
			ptr(`{`+installed+`,"configured":["authn","authn-jwt/ci","authn-jwt/off"],"enabled":["authn","authn-jwt/ci"]}`))
	})
	t.Run("environment", func(t *testing.T) {
		e := newEnv(t, func(c *server.Config) {
			c.EnvAuthenticators = []string{"authn", "authn-oidc/undefined", "authn-jwt/ci"}
		})
		e.do("GET", "/authenticators", nil).expect(t, 200,
			ptr(`{`+installed+`,"configured":["authn"],"enabled":["authn","authn-jwt/ci","authn-oidc/undefined"]}`))
	})
}
