package core

import (
	"context"
	"crypto/rand"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/crypto"
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

// testCore is a real core over SQLite in a temp folder, bootstrapped with
// account acme; it returns the core, the admin's session and its key.
func testCore(tb testing.TB, now func() time.Time) (*Core, Session, string) {
	tb.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "keyward.db"), audit.NewKey([]byte("core test audit chain key")))
	if err != nil {
		tb.Fatal(err)
	}
	mk := make([]byte, crypto.MasterKeySize)
	_, _ = rand.Read(mk)
	sealer, err := crypto.NewSealer(mk)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := New(ctx, Deps{Store: st, Sealer: sealer, Now: now, BcryptWorkers: 2})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := c.Close(); err != nil {
			tb.Error(err)
		}
		st.Close()
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
