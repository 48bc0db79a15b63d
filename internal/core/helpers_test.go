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
	s, err := c.AuthenticateKey(ctx, loopback, LoginRequest{Account: "acme", Event: "token", Authenticator: "authn"}, key)
	if err != nil {
		tb.Fatal(err)
	}
	return c, s, key
}

var loopback = Caller{ClientIP: netip.MustParseAddr("127.0.0.1"), PeerIP: netip.MustParseAddr("127.0.0.1"), RequestID: "test"}
