package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/store/storetest"
)

// testDSN returns the server to test against, skipping (failing in CI) without one.
func testDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("KEYWARD_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("KEYWARD_TEST_POSTGRES is not set, and CI is: the PostgreSQL store must be tested in CI")
		}
		t.Skip("KEYWARD_TEST_POSTGRES is not set (e.g. postgres://keyward:keyward@127.0.0.1:5432/keyward?sslmode=disable); skipping the PostgreSQL store tests")
	}
	return dsn
}

// freshSchema creates an empty schema, drops it when the test ends, and
// returns a DSN whose search_path points at it.
func freshSchema(t *testing.T) string {
	t.Helper()
	dsn := testDSN(t)
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "kwtest_" + hex.EncodeToString(b)
	admin, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.Exec(context.Background(), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("KEYWARD_TEST_POSTGRES must be a URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func openFresh(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), freshSchema(t), storetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	testDSN(t)
	storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t) })
}

func TestTamper(t *testing.T) {
	testDSN(t)
	storetest.RunTamper(t, func(t *testing.T) (store.Store, storetest.Exec) {
		s := openFresh(t)
		return s, tamper(s)
	})
}

func TestRekey(t *testing.T) {
	testDSN(t)
	storetest.RunRekey(t, func(t *testing.T) (store.Store, storetest.Exec) {
		s := openFresh(t)
		return s, tamper(s)
	})
}

func TestSchemaTooNew(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	s, err := Open(ctx, dsn, storetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.pool.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future.sql', 'x')"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, dsn, storetest.Key)
	if !errors.Is(err, store.ErrSchemaTooNew) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("open newer schema: err = %v, want ErrSchemaTooNew", err)
	}
}

// TestInstancesShareOneChain runs two stores on one schema, as two keyward
// instances would: concurrent starts migrate once, and their appends form
// one verifiable chain.
func TestInstancesShareOneChain(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	stores := make([]*Store, 2)
	errs := make(chan error, 2)
	for i := range stores {
		go func() {
			var err error
			stores[i], err = Open(ctx, dsn, storetest.Key)
			errs <- err
		}()
	}
	for range stores {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent open: %v", err)
		}
	}
	for _, s := range stores {
		t.Cleanup(func() { s.Close() })
	}
	for i, s := range stores {
		go func() {
			for j := range 20 {
				if err := s.AppendAudit(ctx, storetestEvent(i, j)...); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range stores {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if c, err := stores[1].VerifyAudit(ctx); err != nil || c.Broken != 0 || c.Unkeyed != 0 {
		t.Fatalf("shared chain: %+v %v", c, err)
	}
	if _, n, _ := stores[0].ListAudit(ctx, "", 1, 0); n != 80 {
		t.Fatalf("records = %d, want 80", n)
	}
}

// TestTextPostgresRefuses: a NUL byte or invalid UTF-8 cannot be stored
// (ErrInvalidText), matches nothing (ErrNotFound), and in an audit record is
// replaced, so it cannot make a whole batch of records fail.
func TestTextPostgresRefuses(t *testing.T) {
	ctx := context.Background()
	s := openFresh(t)
	acct := audit.Event{Account: "acme", Event: "account.create", Outcome: audit.Success, Actor: "acme:user:admin", Subject: "acme:user:admin"}
	if err := s.CreateAccount(ctx, model.Account{Name: "acme"}, acct); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"nul\x00byte", "bad\xffutf8"} {
		p := model.Principal{ID: "p-" + hex.EncodeToString([]byte(bad)), Account: "acme", Kind: model.KindUser, Login: "u" + hex.EncodeToString([]byte(bad)), DisplayName: bad}
		if err := s.CreatePrincipal(ctx, p, nil, acct); !errors.Is(err, store.ErrInvalidText) {
			t.Errorf("store %q: %v, want ErrInvalidText", bad, err)
		}
		if _, err := s.GetPrincipalByLogin(ctx, "acme", model.KindUser, bad); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("look up %q: %v, want ErrNotFound", bad, err)
		}
		ev := acct
		ev.Event, ev.Actor = "authn", "acme:user:"+bad
		if err := s.AppendAudit(ctx, ev, acct); err != nil {
			t.Errorf("audit a login of %q: %v", bad, err)
		}
	}
	if c, err := s.VerifyAudit(ctx); err != nil || c.Broken != 0 || c.Unkeyed != 0 {
		t.Fatalf("verify: %+v %v", c, err)
	}
}

func TestPruneTamper(t *testing.T) {
	testDSN(t)
	storetest.RunPruneTamper(t, func(t *testing.T) (store.Store, storetest.Exec) {
		s := openFresh(t)
		return s, tamper(s)
	})
}

// tamper runs a statement behind the store's back, once every pending audit
// record is in the chain (as a tamperer finds it).
func tamper(s *Store) storetest.Exec {
	return func(q string, args ...any) error {
		if _, err := s.LinkPending(context.Background(), true); err != nil {
			return err
		}
		_, err := s.db.pool.Exec(context.Background(), q, args...)
		return err
	}
}
