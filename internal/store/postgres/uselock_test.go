package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/internal/store/storetest"
)

// shortUseLockWait makes a serving store give up waiting quickly.
func shortUseLockWait(t *testing.T, d time.Duration) {
	old := UseLockWait
	UseLockWait = d
	t.Cleanup(func() { UseLockWait = old })
}

func openAt(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn, storetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// The use lock (review r25b R4): a command that needs the store alone is
// refused while a keyward serves it, a keyward waits while such a command
// runs and starts once it is done, stores in other schemas do not meet,
// and a serving keyward keeps no transaction open (nothing holds back
// vacuum).
func TestUseLockServersAndRecover(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	serving := openAt(t, dsn)
	if err := serving.HoldUse(ctx, false); err != nil {
		t.Fatal(err)
	}
	var state string
	var xmin *string
	if err := serving.db.pool.QueryRow(ctx, "SELECT state, backend_xmin::text FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'keyward-use-' || $1 || '-%'",
		useTag(t, serving)).Scan(&state, &xmin); err != nil {
		t.Fatalf("the serving store's use session: %v", err)
	}
	if state != "idle" || xmin != nil {
		t.Errorf("the use session is %q with backend_xmin %v; want idle, holding no snapshot", state, xmin)
	}

	alone := openAt(t, dsn)
	err := alone.HoldUse(ctx, true)
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "keyward-use-") {
		t.Fatalf("recover beside a serving keyward: %v; want ErrInUse naming its session", err)
	}
	// Another schema's server does not count.
	other := openAt(t, freshSchema(t))
	if err := other.HoldUse(ctx, true); err != nil {
		t.Fatalf("recover on another schema of the same database: %v", err)
	}
	other.Close()

	serving.Close()
	alone2 := openAt(t, dsn)
	if err := alone2.HoldUse(ctx, true); err != nil {
		t.Fatalf("recover with no keyward serving: %v", err)
	}
	// A keyward starting while recover runs waits, gives up after
	// UseLockWait naming it, and starts once it is done.
	shortUseLockWait(t, 300*time.Millisecond)
	late := openAt(t, dsn)
	err = late.HoldUse(ctx, false)
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "keyward-excl-") {
		t.Fatalf("a keyward starting while recover runs: %v; want ErrInUse naming recover's session", err)
	}
	shortUseLockWait(t, 10*time.Second)
	done := make(chan error, 1)
	go func() { done <- late.HoldUse(ctx, false) }()
	time.Sleep(400 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("a keyward started while recover ran: %v", err)
	default:
	}
	alone2.Close()
	if err := <-done; err != nil {
		t.Fatalf("a keyward waiting for recover, after it finished: %v", err)
	}
}

func useTag(t *testing.T, s *Store) string {
	t.Helper()
	var tag string
	if err := s.db.pool.QueryRow(context.Background(), "SELECT to_hex(hashtext(current_schema()))").Scan(&tag); err != nil {
		t.Fatal(err)
	}
	return tag
}

// Review r25b R4: a role that may only connect can neither keep a keyward
// from starting nor pose as one. It may name its session like a recover
// or a server, and ask for the strongest lock on keyward's tables (CREATE
// RULE takes ACCESS EXCLUSIVE before it checks ownership: with a table lock
// held by every server, such a request would wait, and every server
// starting after it would wait behind it).
func TestUseLockIgnoresForeignRole(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	u, _ := url.Parse(dsn)
	b := make([]byte, 4)
	rand.Read(b)
	role := "kwtest_weak_" + hex.EncodeToString(b)
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE ROLE "+role+" LOGIN PASSWORD 'weak'"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("this test needs a role that may create roles (CI's keyward role is a superuser): %v", err)
		}
		t.Skipf("this test needs a role that may create roles: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP OWNED BY "+role); err != nil {
			t.Error(err)
		}
		if _, err := c.Exec(context.Background(), "DROP ROLE "+role); err != nil {
			t.Error(err)
		}
	})
	if _, err := admin.Exec(ctx, "GRANT CONNECT ON DATABASE "+pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()+" TO "+role+
		"; GRANT USAGE ON SCHEMA "+pgx.Identifier{u.Query().Get("search_path")}.Sanitize()+" TO "+role); err != nil {
		t.Fatal(err)
	}
	serving := openAt(t, dsn)
	tag := useTag(t, serving)
	weakURL := *u
	weakURL.User = url.UserPassword(role, "weak")
	weak := func(app string) *pgx.Conn {
		cfg, err := pgx.ParseConfig(weakURL.String())
		if err != nil {
			t.Fatal(err)
		}
		cfg.RuntimeParams["application_name"] = app
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	shortUseLockWait(t, 2*time.Second)
	// Posing as a recover: a server starts at once all the same.
	weak("keyward-excl-" + tag + "-1-1")
	if err := serving.HoldUse(ctx, false); err != nil {
		t.Fatalf("a session of a role without privilege named like a recover keeps a keyward from starting: %v", err)
	}
	// Asking for ACCESS EXCLUSIVE on a table every keyward has: refused
	// (or fails its ownership check) at once, and servers still start.
	w := weak("psql")
	for _, q := range []string{"LOCK TABLE schema_migrations IN ACCESS EXCLUSIVE MODE", "CREATE RULE r AS ON INSERT TO schema_migrations DO NOTHING",
		"SELECT pg_advisory_lock(27511, hashtext(current_schema()))"} {
		qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_, err := w.Exec(qctx, "BEGIN; "+q+"; COMMIT")
		waited := qctx.Err() != nil
		cancel()
		if waited {
			t.Fatalf("%s by a role without privilege waited: %v", q, err)
		}
		_, _ = w.Exec(ctx, "ROLLBACK")
	}
	second := openAt(t, dsn)
	hctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := second.HoldUse(hctx, false); err != nil {
		t.Fatalf("a second keyward, after a foreign role asked for keyward's locks: %v", err)
	}
	// Posing as a server: recover is not refused for it (only real
	// servers count), but is refused for the real ones.
	serving.Close()
	second.Close()
	weak("keyward-use-" + tag + "-1-1")
	alone := openAt(t, dsn)
	if err := alone.HoldUse(ctx, true); err != nil {
		t.Fatalf("recover refused because of a role without privilege named like a server: %v", err)
	}
}

// A server's idle_session_timeout does not end the use session, so there
// is no gap in which admin recover could run beside a serving keyward
// (review r25c F6).
func TestUseSessionOutlivesIdleSessionTimeout(t *testing.T) {
	ctx := context.Background()
	u, err := url.Parse(freshSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("idle_session_timeout", "300") // ms, for every session of this store
	u.RawQuery = q.Encode()
	serving := openAt(t, u.String())
	if err := serving.HoldUse(ctx, false); err != nil {
		t.Fatal(err)
	}
	tag := useTag(t, serving)
	pid := func() int32 {
		t.Helper()
		c, err := pgx.Connect(ctx, testDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		var p int32
		if err := c.QueryRow(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'keyward-use-' || $1 || '-%'",
			tag).Scan(&p); err != nil {
			t.Fatalf("the serving store's use session: %v", err)
		}
		return p
	}
	before := pid()
	time.Sleep(time.Second) // more than three idle timeouts
	if after := pid(); after != before {
		t.Fatalf("the use session was ended while idle (pid %d, then %d): admin recover could have run in between", before, after)
	}
}
