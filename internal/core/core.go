// Package core holds keyward's identities, credentials, tokens, authorization and audit rules; every API surface calls it.
package core

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/store"
)

// Security levels of a session: what kind of credential proved it.
const (
	LevelToken    = 0 // derived from another token (not a credential in itself)
	LevelKey      = 1 // API key or outside authenticator
	LevelPassword = 2 // password
	LevelStrong   = 3 // password with MFA, or a signed request
)

// Deps is what the core needs; New checks it once.
type Deps struct {
	Store  store.Store
	Sealer *crypto.Sealer
	// Authenticators builds outside authenticators by type (authn-jwt…).
	Authenticators map[string]authn.Factory
	Now            func() time.Time
	Logger         *slog.Logger
	// TokenTTL is the access-token lifetime; 0 means 8 minutes.
	TokenTTL time.Duration
	// BcryptWorkers bounds concurrent bcrypt work; 0 means half the cores, at least one.
	BcryptWorkers int
	// BcryptQueue bounds logins waiting for a worker; 0 means 64. Beyond it
	// logins are refused with RateLimited and a retry hint.
	BcryptQueue int
	// LoginMaxWait bounds the expected wait in the bcrypt queue (queue
	// length × measured bcrypt time ÷ workers); a login that would wait
	// longer is refused with RateLimited and that wait as its retry hint.
	// 0 means 2 s.
	LoginMaxWait time.Duration
	// Meter receives the core's measurements; nil measures nothing.
	Meter Meter
	// LendProcs lets the bcrypt pool raise GOMAXPROCS by one per busy
	// worker while it works, so the workers' locked threads never take a P
	// that cheap requests need. For the process that owns GOMAXPROCS (serve).
	LendProcs bool
	// EnvAuthenticators, when not nil, is the authenticator list from the
	// environment (KEYWARD_AUTHENTICATORS / CONJUR_AUTHENTICATORS); it
	// overrides what is enabled in the store, as in Conjur.
	EnvAuthenticators []string
	// Version is reported by the surfaces.
	Version string
}

// Core is keyward's one core: a thin facade over one service per concept,
// each holding only what it uses. The services are embedded, so their
// exported methods are Core's. It is safe for concurrent use.
type Core struct {
	*authService          // authentication: Authenticate, VerifyKey, Whoami
	*accessService        // authorization: Access, Require, Refuse, Outranks
	*principalService     // accounts, principals, roles and grants, passwords
	*keyService           // API keys and Conjur keys
	*tokenService         // tokens, signing keys, JWKS
	*authenticatorService // outside authenticator services
	*auditService         // audit listing and counts
	*mfaService           // second factor: TOTP enrolment, recovery codes
	*apiRegService        // API registrations and their PS-Auth sign-in
	*signatureService     // signature keys and signed requests (Argus)

	st      store.Store
	version string

	// The background workers Close stops.
	audit    *auditor
	bcrypt   *bcryptPool
	touches  *toucher
	stop     context.CancelFunc
	bg       sync.WaitGroup
	closeErr error
}

// Caller is who a request comes from, as far as the transport knows.
type Caller struct {
	ClientIP  netip.Addr
	PeerIP    netip.Addr
	RequestID string
	UserAgent string
	// ClientCert is the TLS client certificate's verified chain, leaf
	// first, up to a --client-ca root; nil when the caller sent none (an
	// unverifiable one never gets this far: the handshake fails). For the
	// surfaces and authenticators that need client certificates.
	ClientCert []*x509.Certificate
	// Seen, when not nil, is where Authenticate notes the session it
	// proved, for the server's access log (account, principal, authenticator).
	Seen *Seen
	// Surface names the API surface the request came through, for metrics.
	Surface string
}

// Seen is who a request turned out to be, as far as Authenticate proved it.
type Seen struct {
	Account, Principal, Authenticator string
}

// Session is a proven identity: what every authorization decision starts from.
type Session struct {
	Account     string
	PrincipalID string
	Login       string // Conjur-style: alice, host/myapp
	Kind        string // user or host
	Level       int
	KeyID       string   // the API key that proved it, if any
	Scope       []string // role ids the credential is narrowed to; empty means all of the principal's
	// Narrowed: the credential was an API key limited by roles or sources.
	// Such a session may use what it was given but not mint or change
	// credentials, which would shed the limits.
	Narrowed  bool
	IssuedAt  time.Time
	ExpiresAt time.Time
	// Authenticator names the way in (authn, authn-jwt/ci…).
	Authenticator string
	// Customers, from a key constrained to customers (or a token minted
	// from one), limits the principals the session acts on to those of
	// these customers, and itself.
	Customers []string
	// TTL is the lifetime of tokens issued for this session where its
	// authenticator sets one (an OIDC provider's); 0 means the default.
	TTL time.Duration
}

// Page is a page request of a listing (limit, offset, search).
type Page = store.Page

// AuditRecord is one stored audit record, as listings return it.
type AuditRecord = audit.Record

// RoleID is the session principal's Conjur role id.
func (s Session) RoleID() string { return roleID(s.Account, s.Kind, s.Login) }

// New checks deps, loads the hot-path caches and starts the background
// workers (audit group commit, last-use recording). Close stops them.
func New(ctx context.Context, d Deps) (*Core, error) {
	switch {
	case d.Store == nil:
		return nil, errors.New("core: Deps.Store is required")
	case d.Sealer == nil:
		return nil, errors.New("core: Deps.Sealer is required")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.TokenTTL <= 0 {
		d.TokenTTL = 8 * time.Minute
	}
	if d.BcryptWorkers <= 0 {
		d.BcryptWorkers = max(1, runtime.GOMAXPROCS(0)/2)
	}
	if d.BcryptQueue <= 0 {
		d.BcryptQueue = 64
	}
	if d.Meter == nil {
		d.Meter = nopMeter{}
	}
	bg, stop := context.WithCancel(context.Background())
	c := &Core{
		st: d.Store, version: d.Version,
		audit:   newAuditor(d.Store, d.Logger, d.Now, d.Meter),
		bcrypt:  newBcryptPool(d.BcryptWorkers, d.BcryptQueue),
		touches: newToucher(d.Store, d.Logger),
		stop:    stop,
	}
	if d.LendProcs {
		c.bcrypt.procs = newProcLender()
	}
	c.bcrypt.meter = d.Meter
	if d.LoginMaxWait > 0 {
		c.bcrypt.maxWait = d.LoginMaxWait
	}
	c.bcrypt.pace = min(time.Second, c.bcrypt.maxWait/2)
	keys := newKeyring(d.Store)
	if err := keys.load(ctx); err != nil {
		stop()
		return nil, fmt.Errorf("load API keys: %w", err)
	}
	tokens, err := loadTokenKeys(ctx, d.Store, d.Sealer, d.Now(), d.TokenTTL)
	if err != nil {
		stop()
		return nil, err
	}
	access := &accessService{st: d.Store, now: d.Now, keys: keys, audit: c.audit}
	tokenSvc := &tokenService{st: d.Store, sealer: d.Sealer, now: d.Now, tokenTTL: d.TokenTTL, tokens: tokens, keys: keys,
		audit: c.audit, access: access}
	keySvc := &keyService{st: d.Store, sealer: d.Sealer, now: d.Now, keys: keys, touches: c.touches, audit: c.audit,
		access: access}
	authnSvc := &authenticatorService{st: d.Store, sealer: d.Sealer, factory: d.Authenticators, now: d.Now,
		envAuthn: d.EnvAuthenticators, authns: newAuthnCache(), keys: keys, audit: c.audit, access: access}
	c.accessService, c.tokenService, c.keyService, c.authenticatorService = access, tokenSvc, keySvc, authnSvc
	c.mfaService = &mfaService{st: d.Store, sealer: d.Sealer, now: d.Now, keys: keys, audit: c.audit, access: access, locks: newMFALocks()}
	c.signatureService = &signatureService{st: d.Store, sealer: d.Sealer, now: d.Now, keys: keys, audit: c.audit, access: access,
		touched: map[string]time.Time{}}
	c.authService = &authService{st: d.Store, sealer: d.Sealer, now: d.Now, keys: keys, throttle: newThrottle(), bcrypt: c.bcrypt,
		touches: c.touches, audit: c.audit, access: access, tokenSvc: tokenSvc, authnSvc: authnSvc, mfa: c.mfaService,
		sigs: c.signatureService, meter: d.Meter}
	c.principalService = &principalService{st: d.Store, sealer: d.Sealer, now: d.Now, bcrypt: c.bcrypt, keys: keys, audit: c.audit,
		access: access, keySvc: keySvc, tokenSvc: tokenSvc, search: newSearchIndex()}
	c.auditService = &auditService{st: d.Store, audit: c.audit, access: access}
	c.apiRegService = &apiRegService{st: d.Store, sealer: d.Sealer, now: d.Now, keys: keys, audit: c.audit, access: access,
		authn: authnSvc, mfa: c.mfaService, bcrypt: c.bcrypt, auth: c.authService}
	c.authService.regs = c.apiRegService
	c.bcrypt.start()
	c.bg.Add(2)
	go func() { defer c.bg.Done(); c.audit.run(bg) }()
	go func() { defer c.bg.Done(); c.touches.run(bg) }()
	c.followChanges(ctx, bg, d.Logger)
	return c, nil
}

// Close stops the background workers after flushing what they hold.
func (c *Core) Close() error {
	c.stop()
	c.bcrypt.close()
	c.bg.Wait()
	return c.closeErr
}

// Version is the running keyward version.
func (c *Core) Version() string { return c.version }

// Ready reports whether the core can serve: the store answers a ping
// within a second and the caches are current.
func (c *Core) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := c.st.Ping(ctx); err != nil {
		return &Error{Kind: Unavailable, Msg: "store unavailable", Err: err}
	}
	return c.accessService.keys.fresh.check()
}

func roleID(account, kind, login string) string {
	if kind == "host" && len(login) > 5 && login[:5] == "host/" {
		login = login[5:]
	}
	return account + ":" + kind + ":" + login
}
