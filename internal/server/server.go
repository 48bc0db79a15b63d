// Package server wires keyward together: configuration, store, core, surfaces, middleware and the HTTP listener.
package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/api/argus"
	"github.com/keyward/keyward/internal/api/conjur"
	"github.com/keyward/keyward/internal/api/native"
	"github.com/keyward/keyward/internal/api/privx"
	"github.com/keyward/keyward/internal/api/psauth"
	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/console"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/netpolicy"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/store/postgres"
	"github.com/keyward/keyward/internal/store/sqlite"
)

// Version is keyward's version.
const Version = "0.1.0"

// Config is everything a server is started with.
type Config struct {
	DataDir string
	Listen  string
	// StoreURL is a postgres:// URL; empty means SQLite in DataDir.
	StoreURL string
	// StoreTimeout bounds every wait on PostgreSQL (0: 5 s); StoreMaxConns
	// sizes its pool (0: max(4, cores)).
	StoreTimeout  time.Duration
	StoreMaxConns int
	// StoreAuditSync commits audit-only records (authentications, reads,
	// denials) with synchronous_commit on; by default they commit with it
	// off (postgres.Options.AuditSync).
	StoreAuditSync bool
	// Alone asks Open for a shared store only if no keyward runs on it
	// (keyward admin recover): ErrInUse otherwise. Every other Open of a
	// shared store holds its use lock shared until Close.
	Alone          bool
	TrustedProxies []netip.Prefix
	TokenTTL       time.Duration
	BcryptWorkers  int
	// LendProcs lets the bcrypt pool raise GOMAXPROCS while it works (see
	// core.Deps); for the process that owns GOMAXPROCS.
	LendProcs   bool
	BcryptQueue int
	// LoginMaxWait bounds a login's expected wait for bcrypt (core.Deps).
	LoginMaxWait time.Duration
	// MetricsListen, when set, is where /metrics is served instead of the
	// main listener (see ServeMetrics).
	MetricsListen string
	MaxBody       int64
	// Account is the default account: created by init, used where a request names none.
	Account string
	// EnvAuthenticators is KEYWARD_AUTHENTICATORS / CONJUR_AUTHENTICATORS; nil when unset.
	EnvAuthenticators []string
	Logger            *slog.Logger
	// Now is the clock (time.Now when nil); tests inject one.
	Now func() time.Time
	// ReplayEntries bounds the SQLite store's in-memory replay cache of
	// signed requests; 0 means sqlite.DefaultReplayEntries.
	ReplayEntries int
	// AccessLog logs one line per request at info level.
	AccessLog bool
	// AuditRetention prunes audit records older than it (0: never).
	AuditRetention time.Duration
}

// Server is a running keyward.
type Server struct {
	cfg     Config
	st      store.Store
	Core    *core.Core
	log     *slog.Logger
	metrics *metrics
	rids    *requestIDs
	handler http.Handler
	docOnce sync.Once
	doc     []byte
	// patterns are the ServeMux patterns registered, for tests.
	patterns []string
}

// MasterKeyFile is the master key's file name in the data folder.
const MasterKeyFile = "master.key"

// DBFile is the SQLite database's file name in the data folder.
const DBFile = "keyward.db"

// OpenStore opens the configured store: PostgreSQL at StoreURL, else SQLite
// in DataDir. The master key (KEYWARD_MASTER_KEY, else the folder's key
// file) must exist: the audit chain is keyed with it.
func OpenStore(ctx context.Context, cfg Config) (store.Store, error) {
	key, err := auditKey(cfg, false)
	if err != nil {
		return nil, err
	}
	return openStore(ctx, cfg, key)
}

func openStore(ctx context.Context, cfg Config, key *audit.Key) (store.Store, error) {
	if cfg.StoreURL != "" {
		if !strings.HasPrefix(cfg.StoreURL, "postgres://") && !strings.HasPrefix(cfg.StoreURL, "postgresql://") {
			return nil, errors.New("--store must be a postgres:// URL")
		}
		return postgres.OpenWith(ctx, cfg.StoreURL, key, postgres.Options{Timeout: cfg.StoreTimeout, MaxConns: cfg.StoreMaxConns, AuditSync: cfg.StoreAuditSync, Logger: cfg.Logger})
	}
	if err := secureDataDir(cfg.DataDir, cfg.Logger); err != nil {
		return nil, err
	}
	st, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, DBFile), key)
	if err != nil {
		return nil, err
	}
	st.SetReplayEntries(cfg.ReplayEntries)
	return st, nil
}

// auditKey is the audit chain's key, derived from the master key.
func auditKey(cfg Config, create bool) (*audit.Key, error) {
	_, key, err := masterKeys(cfg, create)
	return key, err
}

// masterKeys reads the master key and derives the sealer and the audit
// chain's key from it.
func masterKeys(cfg Config, create bool) (*crypto.Sealer, *audit.Key, error) {
	mk, _, err := masterKey(cfg, create)
	if err != nil {
		return nil, nil, err
	}
	sealer, err := crypto.NewSealer(mk)
	if err != nil {
		return nil, nil, err
	}
	return sealer, audit.NewKey(sealer.AuditChainKey()), nil
}

// ErrInUse is returned (wrapped) by Open and OpenStore when a running keyward
// holds the SQLite data folder.
var ErrInUse = sqlite.ErrInUse

// OpenStoreToRead opens the configured store for reading: as OpenStore,
// except that an SQLite database a running keyward holds is opened
// read-only beside it (shared says so). Records that process has not yet
// moved from its audit journal into the table are then not seen.
func OpenStoreToRead(ctx context.Context, cfg Config) (st store.Store, shared bool, err error) {
	key, err := auditKey(cfg, false)
	if err != nil {
		return nil, false, err
	}
	st, err = openStore(ctx, cfg, key)
	if cfg.StoreURL != "" || !errors.Is(err, sqlite.ErrInUse) {
		return st, false, err
	}
	st, err = sqlite.OpenReadOnly(ctx, filepath.Join(cfg.DataDir, DBFile), key)
	return st, true, err
}

// masterKey reads KEYWARD_MASTER_KEY (hex or base64, for instances sharing
// a database) or the data folder's key file, creating it if allowed.
func masterKey(cfg Config, create bool) ([]byte, bool, error) {
	if v := os.Getenv("KEYWARD_MASTER_KEY"); v != "" {
		if b, err := hex.DecodeString(v); err == nil && len(b) == crypto.MasterKeySize {
			return b, false, nil
		}
		if b, err := base64.StdEncoding.DecodeString(v); err == nil && len(b) == crypto.MasterKeySize {
			return b, false, nil
		}
		return nil, false, errors.New("KEYWARD_MASTER_KEY must be 32 bytes in hex or base64")
	}
	p := filepath.Join(cfg.DataDir, MasterKeyFile)
	if !create {
		b, err := readMasterKeyFile(p)
		if err != nil {
			return nil, false, fmt.Errorf("read master key: %w (every instance needs the master key of the one that ran "+
				"`keyward init --store`: a copy of its %s in the data folder, or KEYWARD_MASTER_KEY)", err, MasterKeyFile)
		}
		if len(b) != crypto.MasterKeySize {
			return nil, false, fmt.Errorf("master key %s has the wrong size", p)
		}
		return b, false, nil
	}
	return crypto.LoadOrCreateMasterKey(p)
}

// RekeyAudit chains the whole audit chain again under the master key's
// audit key (keyward audit rekey, with the server stopped), recording it in
// the chain under account. It returns the check of the chain before.
func RekeyAudit(ctx context.Context, cfg Config, account string) (audit.Check, error) {
	st, err := OpenStore(ctx, cfg)
	if err != nil {
		return audit.Check{}, err
	}
	defer st.Close()
	return st.RekeyAudit(ctx, audit.Event{Time: time.Now(), Account: account, Event: "audit.rekey", Outcome: audit.Success,
		Actor: "keyward audit rekey", RequestID: "rekey"})
}

// Open opens the store and the core. With create, a missing master key is
// made (init and the first serve); otherwise it must exist.
func Open(ctx context.Context, cfg Config, create bool) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Account == "" {
		cfg.Account = "default"
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.TrustedProxies == nil {
		cfg.TrustedProxies = netpolicy.DefaultTrusted()
	}
	// The master key comes first: the store keys its audit chain with it.
	// Its folder is ours alone before a key is read from or made in it (a
	// shared store's too, when it makes the key there).
	_, statErr := os.Lstat(cfg.DataDir)
	dirExisted := statErr == nil
	// A shared store that reads its key from the folder gets the same
	// owner and mode checks as SQLite (the folder is not made for it).
	switch {
	case cfg.StoreURL == "" || create && os.Getenv("KEYWARD_MASTER_KEY") == "":
		if err := secureDataDir(cfg.DataDir, cfg.Logger); err != nil {
			return nil, err
		}
	case os.Getenv("KEYWARD_MASTER_KEY") == "" && dirExisted:
		if err := secureDataDir(cfg.DataDir, cfg.Logger); err != nil {
			return nil, err
		}
	}
	mk, madeKey, err := masterKey(cfg, create)
	if err != nil {
		return nil, err
	}
	sealer, err := crypto.NewSealer(mk)
	if err != nil {
		return nil, err
	}
	key := audit.NewKey(sealer.AuditChainKey())
	// A shared store that cannot be opened or initialised leaves no master
	// key (and no folder) behind: the next try must not find a key of
	// its own that no store was ever sealed with.
	var opened bool
	if cfg.StoreURL != "" && madeKey {
		defer func() {
			if opened {
				return
			}
			_ = os.Remove(filepath.Join(cfg.DataDir, MasterKeyFile))
			if !dirExisted {
				_ = os.Remove(cfg.DataDir)
			}
		}()
	}
	st, err := openStore(ctx, cfg, key)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	// On a shared store, the running servers hold the use lock shared; a
	// command that changes what they keep in memory needs it alone.
	if u, ok := st.(interface {
		HoldUse(ctx context.Context, exclusive bool) error
	}); ok {
		if err := u.HoldUse(ctx, cfg.Alone); err != nil {
			st.Close()
			if errors.Is(err, postgres.ErrInUse) {
				return nil, fmt.Errorf("%w: %w", ErrInUse, err)
			}
			return nil, err
		}
	}
	// Before anything is written: a master key other than the store's
	// would seal and chain under the wrong key.
	if err := core.CheckMasterKey(ctx, st, sealer); err != nil {
		st.Close()
		return nil, err
	}
	m := newMetrics()
	c, err := core.New(ctx, core.Deps{Meter: m, Store: st, Sealer: sealer, Authenticators: authenticatorFactories(), Logger: cfg.Logger,
		TokenTTL: cfg.TokenTTL, BcryptWorkers: cfg.BcryptWorkers, BcryptQueue: cfg.BcryptQueue, LoginMaxWait: cfg.LoginMaxWait,
		LendProcs: cfg.LendProcs, EnvAuthenticators: cfg.EnvAuthenticators, Version: Version, Now: cfg.Now})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("start core: %w", err)
	}
	// Loading every API key into memory leaves the rows it decoded as
	// garbage; hand it back now rather than carry it as resident memory.
	debug.FreeOSMemory()
	m.watch(c, st)
	s := &Server{cfg: cfg, st: st, Core: c, log: cfg.Logger, metrics: m, rids: newRequestIDs()}
	s.handler = s.routes()
	opened = true
	return s, nil
}

// Close stops the core and closes the store.
func (s *Server) Close() error {
	err := s.Core.Close()
	if cerr := s.st.Close(); err == nil {
		err = cerr
	}
	return err
}

// Handler is the whole HTTP handler, middleware included.
func (s *Server) Handler() http.Handler { return s.handler }

// Store is the server's store (for the CLI's offline commands).
func (s *Server) Store() store.Store { return s.st }

// Surfaces returns every API surface, in mounting order, the service's
// own routes (health, metrics, JWKS, OpenAPI) last.
func (s *Server) Surfaces() []api.Surface {
	nat := native.New(s.Core, s.log, s.cfg.Account)
	return []api.Surface{
		nat,
		conjur.New(s.Core, s.log, s.cfg.Account),
		privx.New(s.Core, s.log, s.cfg.Account),
		psauth.New(s.Core, s.log, s.cfg.Account),
		argus.New(s.Core, s.log, s.cfg.Account),
		&service{s: s, errs: nat.Errors(), doc: s.openAPI},
	}
}

// OpenAPI is the OpenAPI document of every surface's routes.
func (s *Server) OpenAPI() map[string]any {
	return api.OpenAPI(api.DocInfo{
		Title:   "keyward API",
		Version: Version,
		Description: "keyward's native API under /api/v1, the Conjur-compatible authentication API, and the service's own " +
			"routes. Generated from the route tables and wire types of the running server.",
		License: map[string]any{"name": License, "url": LicenseURL},
		Servers: []map[string]any{{"url": "http://127.0.0.1:8080", "description": "keyward serve's default listen address"},
			{"url": "https://{host}", "description": "a keyward serving TLS", "variables": map[string]any{"host": map[string]any{"default": "keyward.example.net:8443"}}}},
	}, s.Surfaces())
}

// License names keyward's licence in the OpenAPI document. The repository
// has no licence file yet: UNLICENSED (no rights granted) until one is
// chosen; LicenseURL points at where it will be.
const (
	License    = "UNLICENSED"
	LicenseURL = "https://github.com/keyward/keyward/blob/main/LICENSE"
)

func (s *Server) routes() http.Handler {
	mux := &recordingMux{ServeMux: http.NewServeMux()}
	surfaces := s.Surfaces()
	for _, sf := range surfaces {
		api.Mount(mux, sf, s.Core, s.log)
	}
	s.patterns = mux.patterns
	// The admin console: its own mux, a client of the native routes above.
	mux.Handle(console.Prefix, console.New(s.Core, s.log, s.cfg.Account, mux).Handler())
	return s.middleware(api.FoldPaths(surfaces, mux))
}

// recordingMux remembers every pattern registered on it, so a test can
// hold what the server answers against the OpenAPI document.
type recordingMux struct {
	*http.ServeMux
	patterns []string
}

func (m *recordingMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

// openAPI is the document, encoded once on first use.
func (s *Server) openAPI() []byte {
	s.docOnce.Do(func() { s.doc = marshalDoc(s.OpenAPI()) })
	return s.doc
}

// middleware is the transport chain: panic recovery, request id, client
// address, body limit, metrics and access log.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rid := r.Header.Get("X-Request-Id")
		if rid == "" || len(rid) > 128 || strings.ContainsAny(rid, "\r\n\"") {
			rid = s.rids.next()
		}
		w.Header().Set("X-Request-Id", rid)
		peer := peerAddr(r.RemoteAddr)
		caller := core.Caller{PeerIP: peer, ClientIP: netpolicy.ClientAddr(peer, r.Header.Values("X-Forwarded-For"), s.cfg.TrustedProxies),
			RequestID: rid, UserAgent: r.UserAgent()}
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
			caller.ClientCert = r.TLS.VerifiedChains[0]
		}
		var seen *core.Seen
		if s.cfg.AccessLog {
			seen = &core.Seen{}
			caller.Seen = seen
		}
		// A password login's wait bound runs from here (core.WithArrival).
		r = r.WithContext(core.WithArrival(api.WithCaller(r.Context(), caller), start))
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
		}
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic serving request", "request_id", rid, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if sw.status == 0 {
					api.WriteJSON(sw, http.StatusInternalServerError, native.ErrorBody{Error: native.ErrorDetail{Code: "internal", Message: "internal error"}})
				}
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			d := time.Since(start)
			s.metrics.observe(route, status, d)
			if s.cfg.AccessLog {
				s.accessLog(r, rid, route, status, d, caller, seen)
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// accessLog writes the request's line: always the same keys, plus the
// caller's account, principal and authenticator when a credential was
// authenticated. route is the ServeMux pattern, never the path (which may
// hold ids or, on some Conjur routes, secrets).
func (s *Server) accessLog(r *http.Request, rid, route string, status int, d time.Duration, caller core.Caller, l *core.Seen) {
	attrs := make([]slog.Attr, 0, 9)
	attrs = append(attrs, slog.String("request_id", rid), slog.String("method", r.Method), slog.String("route", route),
		slog.Int("status", status), slog.Float64("duration_ms", float64(d.Microseconds())/1000), slog.String("client", caller.ClientIP.String()))
	if l.Account != "" {
		attrs = append(attrs, slog.String("account", l.Account))
	}
	if l.Principal != "" {
		attrs = append(attrs, slog.String("principal", l.Principal))
	}
	if l.Authenticator != "" {
		attrs = append(attrs, slog.String("authenticator", l.Authenticator))
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}

func peerAddr(remote string) netip.Addr {
	ap, err := netip.ParseAddrPort(remote)
	if err == nil {
		return ap.Addr().Unmap()
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// requestIDs makes request ids: a random per-process prefix and a counter.
// Ids need to be unique, not secret, and reading crypto/rand on every
// request costs a system call on the hot path.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &requestIDs{prefix: hex.EncodeToString(b[:])}
}

func (g *requestIDs) next() string {
	var buf [32]byte
	out := append(buf[:0], g.prefix...)
	out = append(out, '-')
	out = strconv.AppendUint(out, g.n.Add(1), 36)
	return string(out)
}

// Serve answers on ln until ctx ends, then stops gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return s.serve(ctx, ln, nil)
}

// ServeTLS answers HTTPS on ln, as Serve does HTTP.
func (s *Server) ServeTLS(ctx context.Context, ln net.Listener, t *TLS) error {
	return s.serve(ctx, ln, t)
}

func (s *Server) serve(ctx context.Context, ln net.Listener, t *TLS) error {
	hs := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	if t != nil {
		hs.TLSConfig = t.Config()
		go func() { errc <- hs.ServeTLS(ln, "", "") }()
	} else {
		go func() { errc <- hs.Serve(ln) }()
	}
	mctx, stopMaintenance := context.WithCancel(ctx)
	mdone := make(chan struct{})
	go func() { defer close(mdone); s.maintainAudit(mctx) }()
	defer func() { stopMaintenance(); <-mdone }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// Init creates the default account with its admin and returns the admin's API key.
func (s *Server) Init(ctx context.Context, account string) (string, error) {
	return s.Core.Bootstrap(ctx, core.Caller{RequestID: "init"}, account)
}
