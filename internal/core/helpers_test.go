package core

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/store/sqlite"
)

// clock is a settable time source for Deps.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testStore is a real SQLite store in a temp folder (closed at cleanup) and
// a sealer under a random master key: what services are built over.
func testStore(tb testing.TB) (store.Store, *crypto.Sealer) {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "keyward.db"), audit.NewKey([]byte("core test audit chain key")))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	mk := make([]byte, crypto.MasterKeySize)
	_, _ = rand.Read(mk)
	sealer, err := crypto.NewSealer(mk)
	if err != nil {
		tb.Fatal(err)
	}
	return st, sealer
}

// runAuditor starts the audit group commit over st, as New does; it stops
// at cleanup (before the store closes).
func runAuditor(tb testing.TB, st store.Store, now func() time.Time) *auditor {
	tb.Helper()
	if now == nil {
		now = time.Now
	}
	a := newAuditor(st, slog.New(slog.DiscardHandler), now, nopMeter{})
	ctx, stop := context.WithCancel(context.Background())
	go a.run(ctx)
	tb.Cleanup(func() { stop(); <-a.done })
	return a
}

// seedAccount writes account with principals (login → kind) and roles
// (name → permissions) straight into st, and returns their ids by name.
func seedAccount(tb testing.TB, st store.Store, account string, principals map[string]model.Kind, roles map[string][]string) (pids, rids map[string]string) {
	tb.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	if err := st.CreateAccount(ctx, model.Account{Name: account, CreatedAt: now}); err != nil {
		tb.Fatal(err)
	}
	pids, rids = map[string]string{}, map[string]string{}
	for login, kind := range principals {
		p := model.Principal{ID: crypto.NewID(), Account: account, Login: login, Kind: kind, Status: model.StatusActive,
			Source: "local", CreatedAt: now, UpdatedAt: now}
		if err := st.CreatePrincipal(ctx, p, nil); err != nil {
			tb.Fatal(err)
		}
		pids[login] = p.ID
	}
	for name, perms := range roles {
		r := model.Role{ID: crypto.NewID(), Account: account, Name: name, Permissions: perms, CreatedAt: now, UpdatedAt: now}
		if err := st.CreateRole(ctx, r); err != nil {
			tb.Fatal(err)
		}
		rids[name] = r.ID
	}
	return pids, rids
}

// auditEvents lists account's audit records of event name, newest first.
func auditEvents(tb testing.TB, st store.Store, account, name string) []audit.Record {
	tb.Helper()
	rs, _, err := st.ListAudit(context.Background(), account, 1000, 0)
	if err != nil {
		tb.Fatal(err)
	}
	var out []audit.Record
	for _, r := range rs {
		if r.Event.Event == name {
			out = append(out, r)
		}
	}
	return out
}

// testCore is a real core over SQLite in a temp folder, bootstrapped with
// account acme; it returns the core, the admin's session and its key.
func testCore(tb testing.TB, now func() time.Time) (*Core, Session, string) {
	tb.Helper()
	return testCoreWith(tb, Deps{Now: now})
}

// testCoreWith is testCore with d (a fresh SQLite store and sealer unless
// d names them, two bcrypt workers unless it says, time.Now unless it
// gives a clock): the core, account acme's admin session and its key.
func testCoreWith(tb testing.TB, d Deps) (*Core, Session, string) {
	tb.Helper()
	ctx := context.Background()
	if d.Store == nil {
		d.Store, d.Sealer = testStore(tb)
	}
	if d.BcryptWorkers == 0 {
		d.BcryptWorkers = 2
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	c, err := New(ctx, d)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := c.Close(); err != nil {
			tb.Error(err)
		}
	})
	key, err := c.Bootstrap(ctx, Caller{RequestID: "init"}, "acme")
	if err != nil {
		tb.Fatal(err)
	}
	s, err := authKey(ctx, c, "acme", key)
	if err != nil {
		tb.Fatal(err)
	}
	return c, s, key
}

var loopback = Caller{ClientIP: netip.MustParseAddr("127.0.0.1"), PeerIP: netip.MustParseAddr("127.0.0.1"), RequestID: "test"}

// acc is the access snapshot of s from loopback, as the pipeline computes it.
func acc(c *Core, s Session) *Access {
	a, err := c.Access(context.Background(), loopback, s)
	if err == nil {
		err = c.Begin(context.Background(), a)
	}
	if err != nil {
		panic(err)
	}
	return a
}

// authKey authenticates an API key as the token route does.
func authKey(ctx context.Context, c *Core, account, key string) (Session, error) {
	return c.Authenticate(ctx, loopback, Credential{Kind: CredAPIKey, Account: account, Secret: key, Event: "token"})
}

// authPw authenticates a login and password as the token route does.
func authPw(ctx context.Context, c *Core, account, login, pw string) (Session, struct{}, error) {
	s, err := c.Authenticate(ctx, loopback, Credential{Kind: CredPassword, Account: account, Login: login, Secret: pw, Event: "token"})
	return s, struct{}{}, err
}

// verifyToken authenticates an access token.
func verifyToken(ctx context.Context, c *Core, tok string) (Session, error) {
	return c.Authenticate(ctx, loopback, Credential{Kind: CredToken, Secret: tok})
}
