// Package argus is keyward's Argus-compatible authentication surface: Argus's session, API-key and signature-key routes under /authentication/v1, its credentials and its response envelope.
package argus

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/model"
)

// coreAPI is the slice of the core this surface calls, by service.
type coreAPI interface {
	api.Core                                                                // the pipeline's: authentication and authorization
	IssueToken(s core.Session, format core.TokenFormat) (core.Token, error) // tokens
	ResolveUser(ctx context.Context, a *core.Access, ref string) (model.Principal, error)
	keysAPI
	signaturesAPI
}

// keysAPI is the key service.
type keysAPI interface {
	CreateAPIKey(ctx context.Context, a *core.Access, principalID string, spec core.KeySpec) (model.APIKey, string, error)
	ListAPIKeys(ctx context.Context, a *core.Access, principalID string) ([]model.APIKey, error)
	RevokeUserKey(ctx context.Context, a *core.Access, ownerID, keyID string) (model.APIKey, error)
	RoleNames(ctx context.Context, a *core.Access, ids []string) []string
}

// signaturesAPI is the signature service.
type signaturesAPI interface {
	EnrolSignatureKey(ctx context.Context, a *core.Access, principalID, publicKey, description string, idem *core.Idempotency) (model.SignatureKey, error)
	ListSignatureKeys(ctx context.Context, a *core.Access, principalID string) ([]model.SignatureKey, error)
	DeleteSignatureKey(ctx context.Context, a *core.Access, principalID, id string) (model.SignatureKey, error)
	EvictSignatureSessions(ctx context.Context, a *core.Access) error
}

// Surface is the Argus API. Its routes serve one account, the default.
type Surface struct {
	core    coreAPI
	log     *slog.Logger
	account string
}

// New builds the Argus surface over the default account.
func New(c coreAPI, log *slog.Logger, account string) *Surface {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Surface{core: c, log: log, account: account}
}

// Name names the surface.
func (s *Surface) Name() string { return "argus" }

// Prefixes is what the Argus API owns.
func (s *Surface) Prefixes() []string { return []string{"/authentication/v1/"} }

// Wrap adds nothing.
func (s *Surface) Wrap(next http.Handler) http.Handler { return next }

// Header names of Argus's credentials.
const (
	HeaderAPIKey    = "Argus-API-Key"
	HeaderSignature = "Argus-Signature"
)

var errSeveral = errors.New("several credentials")

// Extract takes at most one credential: Argus-API-Key, Argus-Signature or
// Authorization: Bearer. Several, or an Authorization of another scheme,
// is a malformed credential. A signed request's body is read here (it is
// signed) and put back for the handler.
func (s *Surface) Extract(r *http.Request) (core.Credential, bool, error) {
	cred := core.Credential{Account: s.account}
	keys, sigs, auth := r.Header.Values(HeaderAPIKey), r.Header.Values(HeaderSignature), r.Header.Values("Authorization")
	switch n := len(keys) + len(sigs) + len(auth); {
	case n == 0:
		return cred, false, nil
	case n > 1:
		return cred, true, errSeveral
	}
	switch {
	case len(keys) == 1:
		user, id, secret, ok := ParseAPIKeyHeader(keys[0])
		if !ok {
			return core.Credential{Kind: core.CredAPIKey, Account: s.account}, true, nil // malformed: the core says apikey invalid
		}
		return core.ArgusKeyCredential(s.account, user, id, secret), true, nil
	case len(sigs) == 1:
		body, err := api.ReadBody(r)
		if err != nil {
			return cred, true, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		path, query := requestTarget(r)
		return core.Credential{Kind: core.CredSignature, Account: s.account, Secret: sigs[0],
			Signed: &core.SignedRequest{Method: r.Method, Path: path, Query: query, Body: body}}, true, nil
	}
	tok, err := api.ParseBearer(auth[0])
	if err != nil {
		return cred, true, err
	}
	return core.Credential{Kind: core.CredToken, Account: s.account, Secret: tok}, true, nil
}

// requestTarget is the path and query exactly as in the request line.
func requestTarget(r *http.Request) (path, query string) {
	target := r.RequestURI
	if !strings.HasPrefix(target, "/") { // absolute form or none (a test's request)
		return r.URL.EscapedPath(), r.URL.RawQuery
	}
	path, query, _ = strings.Cut(target, "?")
	return path, query
}

// ParseAPIKeyHeader reads an Argus-API-Key value: <userID>/<keyID>/<secret>,
// each part non-empty, the secret without '/' or whitespace.
func ParseAPIKeyHeader(v string) (userID, keyID, secret string, ok bool) {
	v = strings.Trim(v, " \t")
	userID, rest, ok1 := strings.Cut(v, "/")
	keyID, secret, ok2 := strings.Cut(rest, "/")
	if !ok1 || !ok2 || userID == "" || keyID == "" || secret == "" || len(v) > 512 {
		return "", "", "", false
	}
	for _, part := range []string{userID, keyID, secret} {
		if strings.ContainsFunc(part, func(r rune) bool { return r <= ' ' || r == '/' || r == 0x7f }) {
			return "", "", "", false
		}
	}
	return userID, keyID, secret, true
}

// Routes is the Argus route table. Creating and deleting API keys and
// enrolling and deleting signature keys need security level 3 (Argus's
// "default"), refused before the body is read; whose keys they are is
// decided in the core (one's own need no permission).
func (s *Surface) Routes() []api.Route {
	const base = "/authentication/v1"
	strong := func(rt api.Route) api.Route {
		rt.MinLevel, rt.LevelReason, rt.PreCheck = core.LevelStrong, core.ReasonSecurityLevel, s.precheckUser
		return rt
	}
	rs := []api.Route{
		{Method: "POST", Pattern: base + "/password/authentication", Public: true, Summary: "Password session (level 2)", Handler: s.passwordSession},
		{Method: "POST", Pattern: base + "/totp/authentication", Public: true, Summary: "Password and TOTP session (level 3)", Handler: s.totpSession},
		{Method: "GET", Pattern: base + "/user/{user}/apikey", SelfService: true, Permission: core.PermAPIKeysManage,
			Summary: "List a user's API keys", Handler: s.listKeys},
		strong(api.Route{Method: "POST", Pattern: base + "/user/{user}/apikey", SelfService: true, Permission: core.PermAPIKeysManage,
			Summary: "Create an API key (level 3)", Handler: s.createKey}),
		strong(api.Route{Method: "DELETE", Pattern: base + "/user/{user}/apikey/{userID}/{keyID}", SelfService: true, Permission: core.PermAPIKeysManage,
			Summary: "Delete an API key by prefix (level 3)", Handler: s.deleteKey}),
		{Method: "GET", Pattern: base + "/user/{user}/signature", SelfService: true, Permission: core.PermAPIKeysManage,
			Summary: "List a user's signature keys", Handler: s.listSignatures},
		strong(api.Route{Method: "POST", Pattern: base + "/user/{user}/signature", SelfService: true, Permission: core.PermAPIKeysManage,
			Summary: "Enrol a signature key (level 3)", Handler: s.enrolSignature}),
		strong(api.Route{Method: "DELETE", Pattern: base + "/user/{user}/signature/{id}", SelfService: true, Permission: core.PermAPIKeysManage,
			Summary: "Delete a signature key (level 3)", Handler: s.deleteSignature}),
		{Method: "DELETE", Pattern: base + "/user/signature/session", SelfService: true,
			Summary: "Forget the caller's signature sessions", Handler: s.evictSessions},
	}
	for i := range rs {
		document(&rs[i])
		if !rs[i].Public && rs[i].PreCheck == nil {
			rs[i].PreCheck = s.precheckAccount
		}
	}
	return rs
}

// precheckAccount refuses (401, audited) a session of another account than
// the one the routes serve, as a token of another account is refused.
func (s *Surface) precheckAccount(r *http.Request, rc *api.Ctx) error {
	if a := rc.Access; a.Session.Account != s.account {
		return s.core.Refuse(r.Context(), a, "authn", a.Session.RoleID(), &core.Error{Kind: core.Unauthenticated,
			Reason: core.ReasonWrongAccount, Msg: "authentication failed"})
	}
	return nil
}

// precheckUser decides, before the body is read, what needs no body: the
// user exists, and another's keys need api-keys-manage.
func (s *Surface) precheckUser(r *http.Request, rc *api.Ctx) error {
	if err := s.precheckAccount(r, rc); err != nil {
		return err
	}
	p, err := s.core.ResolveUser(r.Context(), rc.Access, r.PathValue("user"))
	if err != nil {
		return err
	}
	if p.ID != rc.Access.Session.PrincipalID {
		return s.core.Require(r.Context(), rc.Access, core.PermAPIKeysManage)
	}
	return nil
}
