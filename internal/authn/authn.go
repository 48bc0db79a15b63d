// Package authn declares the small interfaces every outside authenticator (JWT, OIDC, LDAP, cloud) implements; it imports nothing of keyward.
package authn

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// Outcome is the decision on a credential. A wrong credential is an Outcome,
// not an error: an error means no decision could be made (LDAP down, JWKS
// unreachable), which a surface reports as 503.
type Outcome int

// Outcomes.
const (
	OK           Outcome = iota // the credential proves Identity
	Bad                         // wrong, malformed or unverifiable credential
	Expired                     // a credential that was once good has expired
	Forbidden                   // the identity is proven but may not use this service
	SourceDenied                // the client address is not allowed
	Mismatch                    // the principal's annotations disagree with the credential
	Invalid                     // the request's own parameters are refused (an OIDC code, code_verifier or nonce)
)

// String names the outcome as audit reasons do.
func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case Bad:
		return "bad_credential"
	case Expired:
		return "expired"
	case Forbidden:
		return "forbidden"
	case SourceDenied:
		return "source_not_allowed"
	case Mismatch:
		return "annotation_mismatch"
	case Invalid:
		return "bad_request"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// Request is one authentication attempt through an authenticator service.
type Request struct {
	Account   string
	ServiceID string
	// Login is the login the route names, Conjur-style ("alice", "host/apps/myapp"),
	// or "" when the route carries none (authn-jwt without {id}, authn-gcp, authn-oidc).
	Login string
	// Credential is what the caller presented: a password, a JWT, an id token,
	// a signed STS request (authn-iam's body).
	Credential string
	// Code, CodeVerifier and Nonce carry the OIDC authorization-code flow.
	Code, CodeVerifier, Nonce string
	ClientIP                  netip.Addr
	Now                       time.Time
}

// Identity is who a verified credential says the caller is.
type Identity struct {
	// Login is the Conjur-style login: "alice" or "host/apps/myapp".
	Login string
	// Claims are the verified claims, where the credential has them.
	Claims map[string]any
	// Groups are the directory groups (DNs) the identity is a member of,
	// where the authenticator looks them up (authn-ldap).
	Groups []string
	// Reason says, for the audit, why an outcome other than OK was reached.
	Reason string
}

// Authenticator verifies credentials for one configured service.
type Authenticator interface {
	Verify(ctx context.Context, req Request) (Identity, Outcome, error)
}

// AnnotationChecker is implemented by authenticators whose hosts carry
// annotations that must agree with the credential (authn-jwt, authn-gcp,
// authn-azure). kind is "user" or "host".
type AnnotationChecker interface {
	CheckAnnotations(id Identity, kind string, annotations map[string]string) (Outcome, string)
}

// StatusChecker is implemented by authenticators that Conjur gives a status
// check: it reports a configuration problem (unreachable provider, bad keys).
type StatusChecker interface {
	Status(ctx context.Context) error
}

// Warner is implemented by authenticators that can say how a valid
// configuration is weaker than it could be (an OIDC id-token flow without
// client-id accepts tokens issued to any client of its provider). Each
// warning is one sentence for an operator, shown beside the service's
// configuration and status; none means nothing to say.
type Warner interface {
	Warnings() []string
}

// Directory is implemented by authenticators that can list their users
// (authn-ldap): entries in which every term occurs (ignoring case) in the
// login, name or email, at most limit of them.
type Directory interface {
	SearchUsers(ctx context.Context, terms []string, limit int) ([]DirectoryEntry, error)
}

// DirectoryEntry is one user of a directory.
type DirectoryEntry struct {
	DN, Login, Email, FullName, FirstName, LastName string
}

// Provider is implemented by the OIDC authorization-code flow: it builds the
// provider's authorization URL for a login attempt.
type Provider interface {
	// AuthorizationURL returns the provider's authorization endpoint with
	// Conjur's query parameters for the given nonce, state and PKCE challenge.
	AuthorizationURL(ctx context.Context, nonce, state, codeChallenge string) (string, error)
	// TokenTTL is how long a token issued through this service lives.
	TokenTTL() time.Duration
}

// Config is one service's configuration: Conjur's variable names and string values.
type Config struct {
	Account   string
	Type      string
	ServiceID string
	Values    map[string]string
	// HTTPClient is used for outbound calls when the service sets no ca-cert;
	// nil means http.DefaultClient with a timeout.
	HTTPClient *http.Client
}

// Factory builds an authenticator from its configuration, or reports every
// configuration problem at once as ConfigErrors.
type Factory func(cfg Config) (Authenticator, error)

// ConfigError is one bad configuration value, naming its key.
type ConfigError struct {
	Key string
	Msg string
}

func (e ConfigError) Error() string { return e.Key + ": " + e.Msg }

// ConfigErrors is every problem found in one configuration.
type ConfigErrors []ConfigError

func (es ConfigErrors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// FetchError is an outside provider's document (a JWKS, an OpenID discovery
// document and the keys it names) that could not be fetched or read:
// connection refused, DNS failure, an untrusted certificate, a status other
// than 200, a body that is not the document. Status checks name it.
type FetchError struct {
	// Discovery is set when the source is a provider-uri (discovery, then
	// the keys it names), unset for a jwks-uri.
	Discovery bool
	// URI is the configured provider-uri or jwks-uri.
	URI string
	Err error
}

func (e *FetchError) Error() string {
	if e.Discovery {
		return "provider discovery " + e.URI + ": " + e.Err.Error()
	}
	return "jwks " + e.URI + ": " + e.Err.Error()
}

func (e *FetchError) Unwrap() error { return e.Err }
