package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/store/sqlstore"
)

func uniq() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// listener LISTENs on the change channel and returns the payloads naming
// tag (other tests share the channel: it is per database).
func listener(t *testing.T, dsn, tag string) func(wait time.Duration) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		t.Fatal(err)
	}
	return func(wait time.Duration) []string {
		var got []string
		deadline := time.Now().Add(wait)
		for {
			wctx, cancel := context.WithDeadline(ctx, deadline)
			n, err := conn.WaitForNotification(wctx)
			cancel()
			if n != nil && strings.Contains(n.Payload, tag) {
				got = append(got, n.Payload)
			}
			if err != nil {
				return got
			}
		}
	}
}

func TestNotifyOnlyOnCommit(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	s, err := Open(ctx, dsn, audit.NewKey([]byte("listen test audit chain key 32 b")))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tag := uniq()
	recv := listener(t, dsn, tag)
	acct := "acct" + tag
	if err := s.CreateAccount(ctx, model.Account{Name: acct, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	p := model.Principal{ID: "p" + tag, Account: acct, Login: "alice", Kind: model.KindUser, Status: model.StatusActive,
		CreatedAt: time.Now(), UpdatedAt: time.Now()}
	k := model.APIKey{ID: "k" + tag, Account: acct, PrincipalID: p.ID, Hash: make([]byte, 32), CreatedAt: time.Now()}
	if err := s.CreatePrincipal(ctx, p, &k, audit.Event{Account: acct, Event: "user.create", Outcome: audit.Success}); err != nil {
		t.Fatal(err)
	}
	got := recv(time.Second)
	want := []string{"account:" + acct, "principal:" + acct + ":" + p.ID, "key:" + acct + ":" + k.ID}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("committed writes announced %q, want %q", got, want)
	}

	// Writes that do not commit announce nothing: a refused insert, an
	// updater's refusal, and a transaction that notified and then failed.
	if err := s.CreateAPIKey(ctx, k); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("duplicate key: %v", err)
	}
	refuse := errors.New("no")
	if _, err := s.UpdatePrincipal(ctx, acct, p.ID, func(model.Principal) (model.Principal, error) { return model.Principal{}, refuse }); !errors.Is(err, refuse) {
		t.Fatalf("refused update: %v", err)
	}
	err = s.db.Write(ctx, sqlstore.TxOptions{Isolation: sqlstore.ReadCommitted}, func(q sqlstore.Querier) error {
		if err := s.db.Notify(ctx, q, []string{"key:" + acct + ":rolledback"}); err != nil {
			return err
		}
		return refuse
	})
	if !errors.Is(err, refuse) {
		t.Fatalf("failing transaction: %v", err)
	}
	if got := recv(500 * time.Millisecond); len(got) != 0 {
		t.Fatalf("writes that did not commit announced %q", got)
	}
	if _, err := s.UpdateAPIKey(ctx, k.ID, func(k model.APIKey) (model.APIKey, error) {
		now := time.Now()
		k.RevokedAt = &now
		return k, nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := recv(time.Second); len(got) != 1 || got[0] != "key:"+acct+":"+k.ID {
		t.Fatalf("revocation announced %q", got)
	}
}

// recorder is a store.ChangeHandler that records what it is told.
type recorder struct {
	mu      sync.Mutex
	events  []string
	reloads int
	alive   time.Time
}

func (r *recorder) Reload(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reloads++
	r.events = append(r.events, "reload")
	return nil
}

func (r *recorder) Changed(_ context.Context, p string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, p)
	return nil
}

func (r *recorder) Alive(at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.alive.IsZero() || len(r.events) > 0 && r.events[len(r.events)-1] != "alive" {
		r.events = append(r.events, "alive")
	}
	r.alive = at
}

func (r *recorder) Lost(error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, "lost")
}

func (r *recorder) has(ev string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e == ev {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFollowChanges(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dsn := freshSchema(t)
	s, err := Open(ctx, dsn, audit.NewKey([]byte("listen test audit chain key 32 b")))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := &recorder{}
	done := make(chan struct{})
	go func() { defer close(done); s.FollowChanges(ctx, r) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "first reload and proof", func() bool { return r.has("alive") })
	r.mu.Lock()
	if r.events[0] != "reload" {
		t.Errorf("first event %q, want reload before anything else", r.events[0])
	}
	r.mu.Unlock()

	tag := uniq()
	acct := "acct" + tag
	if err := s.CreateAccount(ctx, model.Account{Name: acct, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the change", func() bool { return r.has("account:" + acct) })

	// Freshness is proved at least every 250 ms while nothing happens.
	r.mu.Lock()
	first := r.alive
	r.mu.Unlock()
	waitFor(t, "a later proof", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.alive.After(first) })

	// A killed listener connection is reported, then reloaded.
	var n int64
	if err := s.db.pool.QueryRow(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND datname = current_database() AND application_name = $1", appName(s)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("found no listener session to terminate")
	}
	waitFor(t, "loss and reload", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.reloads >= 2
	})
	if !r.has("lost") {
		t.Error("the loss was not reported")
	}
}

func appName(s *Store) string { return s.listen.RuntimeParams["application_name"] }
