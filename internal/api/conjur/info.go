package conjur

import (
	"html/template"
	"mime"
	"net/http"
	"strings"

	"github.com/keyward/keyward/internal/api"
)

// whoamiBody is Conjur's GET /whoami answer, in its field order.
type whoamiBody struct {
	ClientIP      string  `json:"client_ip"`
	UserAgent     *string `json:"user_agent"`
	Account       string  `json:"account"`
	Username      string  `json:"username"`
	TokenIssuedAt string  `json:"token_issued_at"`
}

// railsTime is how Rails renders a Time in JSON: ISO 8601 with
// milliseconds and a numeric offset.
const railsTime = "2006-01-02T15:04:05.000-07:00"

// whoami is GET /whoami: what the access token says of its bearer; audited.
func (s *Surface) whoami(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	if err := s.core.Whoami(r.Context(), rc.Access); err != nil {
		return err
	}
	sess := rc.Session()
	out := whoamiBody{Account: sess.Account, Username: sess.Login}
	if rc.Caller.ClientIP.IsValid() {
		out.ClientIP = rc.Caller.ClientIP.String()
	}
	if ua := r.UserAgent(); ua != "" {
		out.UserAgent = &ua
	}
	if !sess.IssuedAt.IsZero() {
		out.TokenIssuedAt = sess.IssuedAt.UTC().Format(railsTime)
	}
	send(w, reply{http.StatusOK, out})
	return nil
}

// rootPage is the HTML status page; conjur-api-go reads the version from
// its <dd>Version …</dd>.
var rootPage = template.Must(template.New("root").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>keyward</title></head>
<body>
<h1>keyward is running!</h1>
<p>This keyward server answers CyberArk Conjur's authentication API.</p>
<dl>
<dt>Details:</dt>
<dd>Version {{.}}</dd>
</dl>
</body>
</html>
`))

// wantsJSON reports whether the Accept header asks for JSON.
func wantsJSON(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "application/json" {
				return true
			}
		}
	}
	return false
}

// rootBody is GET / as JSON: the version and, like Conjur's, the services
// with their state.
type rootBody struct {
	Version  string            `json:"version"`
	Services map[string]string `json:"services"`
}

// root is GET /: the status page, or {"version"} when JSON is asked for.
func (s *Surface) root(w http.ResponseWriter, r *http.Request, _ *api.Ctx) error {
	if wantsJSON(r) {
		// keyward's own version (0.x): Conjur's clients gate features on
		// the version (the authenticators API v2 at 1.23.0, LDAP mappings
		// at 1.28.0), and keyward claims none it lacks.
		send(w, reply{http.StatusOK, rootBody{Version: s.core.Version(), Services: map[string]string{"authn": "ok"}}})
		return nil
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	return rootPage.Execute(w, s.core.Version())
}
