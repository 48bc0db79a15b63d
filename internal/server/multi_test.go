package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/internal/server"
)

// The bounds of issue 25.
const (
	propagation = time.Second // a change is in force on every instance within this of its answer
)

// instance is one keyward on the shared database, behind httptest.
type instance struct {
	t    *testing.T
	name string
	s    *server.Server
	srv  *httptest.Server
}

// testDatabase creates a database of its own for the test and returns its
// URL (dropped at the end).
func testDatabase(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("KEYWARD_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("KEYWARD_TEST_POSTGRES is not set, and CI is")
		}
		t.Skip("KEYWARD_TEST_POSTGRES is not set; skipping the multi-instance test")
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 5)
	rand.Read(b)
	name := "kw_multi_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer admin.Close(context.Background())
		if _, err := admin.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, _ := url.Parse(dsn)
	u.Path = "/" + name
	return u.String()
}

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func startInstance(t *testing.T, name, dir, dsn string, timeout time.Duration, log io.Writer) *instance {
	t.Helper()
	s, err := server.Open(context.Background(), server.Config{DataDir: dir, StoreURL: dsn, Account: "acme", StoreTimeout: timeout,
		StoreMaxConns: 4, Logger: slog.New(slog.NewTextHandler(log, nil))}, false)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	in := &instance{t: t, name: name, s: s, srv: httptest.NewServer(s.Handler())}
	t.Cleanup(func() { in.srv.Close(); _ = s.Close() })
	return in
}

// call makes a request and decodes a JSON answer into a map; it returns
// the status and how long the answer took.
func (in *instance) call(method, path, token, body string) (int, map[string]any, time.Duration) {
	in.t.Helper()
	req, err := http.NewRequest(method, in.srv.URL+path, strings.NewReader(body))
	if err != nil {
		in.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	start := time.Now()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		in.t.Fatalf("%s %s on %s: %v", method, path, in.name, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, time.Since(start)
}

func (in *instance) must(want int, method, path, token, body string) map[string]any {
	in.t.Helper()
	st, out, _ := in.call(method, path, token, body)
	if st != want {
		in.t.Fatalf("%s %s on %s: %d %v, want %d", method, path, in.name, st, out, want)
	}
	return out
}

// verify returns verify's answer for key: status, valid, code, permissions.
func (in *instance) verify(key string) (int, bool, string, []string) {
	in.t.Helper()
	st, out, _ := in.call("POST", "/api/v1/api-keys/verify", "", `{"key":"`+key+`"}`)
	valid, _ := out["valid"].(bool)
	code, _ := out["code"].(string)
	var perms []string
	if ps, ok := out["permissions"].([]any); ok {
		for _, p := range ps {
			perms = append(perms, p.(string))
		}
	}
	if e, ok := out["error"].(map[string]any); ok {
		code, _ = e["code"].(string)
	}
	return st, valid, code, perms
}

// within polls cond until it holds and returns how long that took; it
// fails the test if it takes longer than limit.
func within(t *testing.T, what string, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit+2*time.Second {
			t.Fatalf("%s: not within %v (gave up after %v)", what, limit, time.Since(start))
		}
		time.Sleep(5 * time.Millisecond)
	}
	took := time.Since(start)
	if took > limit {
		t.Errorf("%s took %v, over %v", what, took, limit)
	}
	return took
}

func s(v any) string { x, _ := v.(string); return x }

func TestTwoInstances(t *testing.T) {
	dsn := testDatabase(t)
	u, _ := url.Parse(dsn)
	proxy := newPGProxy(t, u.Host)
	viaProxy := *u
	viaProxy.Host = proxy.addr

	// Bootstrap: init on B's folder, A gets a copy of master.key.
	dirA, dirB := t.TempDir(), t.TempDir()
	b0, err := server.Open(context.Background(), server.Config{DataDir: dirB, StoreURL: dsn, Account: "acme"}, true)
	if err != nil {
		t.Fatal(err)
	}
	adminKey, err := b0.Init(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	b0.Close()
	mk, err := os.ReadFile(filepath.Join(dirB, server.MasterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dirA, server.MasterKeyFile), mk, 0o600); err != nil {
		t.Fatal(err)
	}
	const storeTimeout = time.Second
	logA := &syncBuffer{}
	A := startInstance(t, "A", dirA, viaProxy.String(), storeTimeout, logA)
	B := startInstance(t, "B", dirB, dsn, storeTimeout, io.Discard)

	tokenOn := func(in *instance, key string) string {
		return s(in.must(200, "POST", "/api/v1/token", "", `{"api_key":"`+key+`"}`)["access_token"])
	}
	admA, admB := tokenOn(A, adminKey), tokenOn(B, adminKey)
	users := A.must(200, "GET", "/api/v1/users", admA, "")["items"].([]any)
	adminID := s(users[0].(map[string]any)["id"])
	newKey := func(in *instance, tok, pid string) (key, id string) {
		out := in.must(201, "POST", "/api/v1/users/"+pid+"/api-keys", tok, "")
		return s(out["key"]), s(out["id"])
	}

	t.Run("KeyMadeOnAUsedOnB", func(t *testing.T) {
		key, _ := newKey(A, admA, adminID)
		within(t, "a key made on A valid on B", propagation, func() bool { _, v, _, _ := B.verify(key); return v })
		B.must(200, "GET", "/api/v1/users", key, "")
	})

	t.Run("RevokedOnBRefusedOnA", func(t *testing.T) {
		var worst time.Duration
		for i := 0; i < 20; i++ {
			key, id := newKey(B, admB, adminID)
			within(t, "new key valid on A", propagation, func() bool { _, v, _, _ := A.verify(key); return v })
			tokA := tokenOn(A, key) // a token minted from it on A
			B.must(204, "DELETE", "/api/v1/api-keys/"+id, admB, "")
			took := within(t, "revocation on B refused on A", propagation, func() bool {
				st, v, code, _ := A.verify(key)
				return st == 200 && !v && code == "revoked"
			})
			worst = max(worst, took)
			if st, _, _ := A.call("GET", "/api/v1/users", tokA, ""); st != 401 {
				t.Errorf("a token minted on A from a key revoked on B: %d, want 401", st)
			}
			if st, _, _ := A.call("POST", "/api/v1/token", "", `{"api_key":"`+key+`"}`); st != 401 {
				t.Errorf("token from a revoked key on A: %d, want 401", st)
			}
		}
		t.Logf("revocation on B refused on A: worst of 20 %v", worst)
	})

	t.Run("DisabledUserRoleChangeSeenOnB", func(t *testing.T) {
		role := A.must(201, "POST", "/api/v1/roles", admA, `{"name":"viewers","permissions":["users-view"]}`)
		user := A.must(201, "POST", "/api/v1/users", admA, `{"login":"carol","kind":"user"}`)
		uid, ukey := s(user["id"]), s(user["api_key"])
		A.must(200, "PUT", "/api/v1/users/"+uid+"/roles", admA, `{"roles":[{"id":"`+s(role["id"])+`","type":"PERMANENT"}]}`)
		within(t, "a grant on A in B's verify", propagation, func() bool {
			_, v, _, ps := B.verify(ukey)
			return v && slices.Contains(ps, "users-view")
		})
		A.must(200, "PUT", "/api/v1/roles/"+s(role["id"]), admA, `{"name":"viewers","permissions":["users-view","roles-view"]}`)
		took := within(t, "a role change on A in B's verify", propagation, func() bool {
			_, v, _, ps := B.verify(ukey)
			return v && slices.Contains(ps, "roles-view")
		})
		t.Logf("role change on A seen on B after %v", took)
		within(t, "the role change authorizes on B", propagation, func() bool {
			st, _, _ := B.call("GET", "/api/v1/roles", ukey, "")
			return st == 200
		})
		A.must(200, "PUT", "/api/v1/users/"+uid+"/roles", admA, `{"roles":[]}`)
		within(t, "a removed grant on A refused on B", propagation, func() bool {
			st, _, _ := B.call("GET", "/api/v1/roles", ukey, "")
			return st == 403
		})
		utok := tokenOn(B, ukey)
		A.must(200, "PATCH", "/api/v1/users/"+uid, admA, `{"status":"disabled"}`)
		took = within(t, "a user disabled on A refused on B", propagation, func() bool {
			_, v, code, _ := B.verify(ukey)
			return !v && code == "disabled"
		})
		t.Logf("user disabled on A refused on B after %v", took)
		if st, _, _ := B.call("GET", "/api/v1/users/"+uid, utok, ""); st != 401 {
			t.Errorf("token of a user disabled on A used on B: %d, want 401", st)
		}
		A.must(200, "PATCH", "/api/v1/users/"+uid, admA, `{"status":"active"}`)
		within(t, "a user re-enabled on A valid on B", propagation, func() bool { _, v, _, _ := B.verify(ukey); return v })
	})

	t.Run("SigningKeyRotation", func(t *testing.T) {
		A.must(204, "POST", "/api/v1/signing-keys/rotate", admA, "")
		tokA := tokenOn(A, adminKey)
		kid := jwsKid(t, tokA)
		took := within(t, "B accepts A's new key", propagation, func() bool {
			st, _, _ := B.call("GET", "/api/v1/users", tokA, "")
			return st == 200
		})
		t.Logf("signing-key rotation on A in force on B after %v", took)
		_, jwks, _ := B.call("GET", "/.well-known/jwks.json", "", "")
		found := false
		for _, k := range jwks["keys"].([]any) {
			found = found || s(k.(map[string]any)["kid"]) == kid
		}
		if !found {
			t.Errorf("B's JWKS does not list A's new key %s", kid)
		}
		if got := jwsKid(t, tokenOn(B, adminKey)); got != kid {
			t.Errorf("B signs with %s, want the new key %s", got, kid)
		}
		// Tokens signed before by the retired key still verify.
		if st, _, _ := B.call("GET", "/api/v1/users", admA, ""); st != 200 {
			t.Errorf("a token of the retired key on B: %d", st)
		}
	})

	// Review r25b R7: a NOTIFY flood from a plain connection (any role
	// that may connect), 1,100 distinct key payloads per 100 ms, neither
	// makes A answer 503 nor delays a genuine revocation past the bound,
	// and A logs the flood once, not once per round.
	t.Run("NotifyFloodKeepsServing", func(t *testing.T) {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		key, id := newKey(B, admB, adminID)
		within(t, "new key valid on A", propagation, func() bool { _, v, _, _ := A.verify(key); return v })
		stop := make(chan struct{})
		flooded := make(chan error, 1)
		go func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					flooded <- nil
					return
				default:
				}
				if _, err := conn.Exec(ctx, "SELECT count(pg_notify('keyward_changes', k||':acme:f'||g||'_'||$1::text)) FROM generate_series(1,1100) g, unnest(ARRAY['key','principal']) k", strconv.Itoa(i)); err != nil {
					flooded <- err
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
		for start := time.Now(); time.Since(start) < 1500*time.Millisecond; time.Sleep(100 * time.Millisecond) {
			if st, v, code, _ := A.verify(adminKey); st != 200 || !v {
				t.Fatalf("during a NOTIFY flood A answers verify of a valid key %d valid=%v code %q", st, v, code)
			}
		}
		B.must(204, "DELETE", "/api/v1/api-keys/"+id, admB, "")
		took := within(t, "a revocation on B refused on A during a NOTIFY flood", propagation, func() bool {
			st, v, code, _ := A.verify(key)
			if st != 200 {
				t.Fatalf("during a NOTIFY flood A answers verify %d (%s)", st, code)
			}
			return !v && code == "revoked"
		})
		t.Logf("revocation on B refused on A during a NOTIFY flood after %v", took)
		for start := time.Now(); time.Since(start) < 1500*time.Millisecond; time.Sleep(100 * time.Millisecond) {
			if st, v, code, _ := A.verify(adminKey); st != 200 || !v {
				t.Fatalf("during a NOTIFY flood A answers verify of a valid key %d valid=%v code %q", st, v, code)
			}
		}
		close(stop)
		if err := <-flooded; err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(logA.String(), "change notification flood:"); n != 1 {
			t.Errorf("A logged %d flood warnings for one flood, want 1", n)
		}
	})

	t.Run("PrivXSearchFollowsOtherInstance", func(t *testing.T) {
		// B's user-search index is loaded before A writes: each of A's
		// writes must reach it through the change notifications, not
		// its reload a minute later.
		search := func(keywords string) []string {
			_, out, _ := B.call("POST", "/role-store/api/v1/users/search", admB, `{"keywords":"`+keywords+`"}`)
			var logins []string
			items, _ := out["items"].([]any)
			for _, it := range items {
				logins = append(logins, s(it.(map[string]any)["principal"]))
			}
			return logins
		}
		if got := search("zebrafinch"); len(got) != 0 {
			t.Fatalf("search before the user exists: %v", got)
		}
		user := A.must(201, "POST", "/api/v1/users", admA, `{"login":"zebrafinch","kind":"user"}`)
		uid := s(user["id"])
		within(t, "a user made on A found by B's search", propagation, func() bool {
			return slices.Equal(search("zebrafinch"), []string{"zebrafinch"})
		})
		A.must(200, "PATCH", "/api/v1/users/"+uid, admA, `{"email":"songbird@example.org"}`)
		within(t, "an email changed on A found by B's search", propagation, func() bool {
			return slices.Equal(search("songbird"), []string{"zebrafinch"})
		})
		A.must(204, "DELETE", "/api/v1/users/"+uid, admA, "")
		within(t, "a user deleted on A gone from B's search", propagation, func() bool {
			return len(search("zebrafinch")) == 0 && len(search("songbird")) == 0
		})
	})

	t.Run("ListenerKilledWhileRefused", func(t *testing.T) {
		keep, keepID := newKey(B, admB, adminID)
		within(t, "key valid on A", propagation, func() bool { _, v, _, _ := A.verify(keep); return v })
		proxy.setMode("refuse") // A cannot reconnect …
		terminate(t, dsn, proxy)
		B.must(204, "DELETE", "/api/v1/api-keys/"+keepID, admB, "") // … while B revokes one key
		made, _ := newKey(B, admB, adminID)                         // and makes another
		time.Sleep(1100 * time.Millisecond)
		st, _, _, _ := A.verify(keep)
		if st != 503 {
			t.Errorf("A cut off for over 1 s answers verify %d, want 503", st)
		}
		for _, path := range []string{"/api/v1/users"} {
			if st, out, took := A.call("GET", path, admA, ""); st != 503 || took > time.Second+500*time.Millisecond {
				t.Errorf("GET %s on A while refused: %d %v in %v, want 503 within ~1 s", path, st, out, took)
			} else if e, _ := out["error"].(map[string]any); s(e["code"]) != "unavailable" {
				t.Errorf("GET %s on A while refused: %v, want code unavailable", path, out)
			}
		}
		// Conjur's routes answer 503 in Conjur's shape.
		if st, out, _ := A.call("POST", "/authn/acme/admin/authenticate", "", adminKey); st != 503 || out["error"] == nil {
			t.Errorf("Conjur authenticate on A while cut off: %d %v, want 503 in Conjur's shape", st, out)
		}
		if st, _, took := A.call("GET", "/healthz", "", ""); st != 200 || took > time.Second {
			t.Errorf("/healthz during the outage: %d in %v", st, took)
		}
		if st, _, took := A.call("GET", "/readyz", "", ""); st != 503 || took > 2*time.Second {
			t.Errorf("/readyz during the outage: %d in %v", st, took)
		}
		proxy.setMode("pass")
		took := within(t, "A ready after PostgreSQL accepts again", time.Second, func() bool {
			st, _, _ := A.call("GET", "/readyz", "", "")
			return st == 200
		})
		t.Logf("A ready %v after connections were accepted again", took)
		if st, v, code, _ := A.verify(keep); st != 200 || v || code != "revoked" {
			t.Errorf("key revoked during the outage, on A after recovery: %d valid=%v %s", st, v, code)
		}
		if st, v, _, _ := A.verify(made); st != 200 || !v {
			t.Errorf("key made during the outage, on A after recovery: %d valid=%v", st, v)
		}
	})

	t.Run("NotAnswering", func(t *testing.T) {
		key, _ := newKey(A, admA, adminID)
		proxy.setMode("blackhole")
		bound := storeTimeout + time.Second
		if st, _, took := A.call("GET", "/api/v1/users", admA, ""); st != 503 || took > bound+200*time.Millisecond {
			t.Errorf("GET /api/v1/users while PostgreSQL does not answer: %d in %v, want 503 within %v", st, took, bound)
		}
		if st, _, took := A.call("POST", "/api/v1/users/"+adminID+"/api-keys", admA, ""); st != 503 || took > bound+200*time.Millisecond {
			t.Errorf("key creation while PostgreSQL does not answer: %d in %v, want 503 within %v", st, took, bound)
		}
		if st, _, _, _ := A.verify(key); st != 503 {
			t.Errorf("verify while PostgreSQL does not answer: %d, want 503", st)
		}
		if st, _, took := A.call("GET", "/readyz", "", ""); st != 503 || took > 2*time.Second {
			t.Errorf("/readyz while PostgreSQL does not answer: %d in %v", st, took)
		}
		if st, _, took := A.call("GET", "/healthz", "", ""); st != 200 || took > time.Second {
			t.Errorf("/healthz while PostgreSQL does not answer: %d in %v", st, took)
		}
		proxy.setMode("pass")
		took := within(t, "A ready after PostgreSQL answers again", 2*time.Second, func() bool {
			st, _, _ := A.call("GET", "/readyz", "", "")
			return st == 200
		})
		t.Logf("A ready %v after PostgreSQL answered again", took)
		if st, v, _, _ := A.verify(key); st != 200 || !v {
			t.Errorf("verify after recovery: %d valid=%v", st, v)
		}
	})

	t.Run("Refused", func(t *testing.T) {
		proxy.setMode("refuse")
		terminate(t, dsn, proxy)
		if st, out, took := A.call("POST", "/api/v1/users/"+adminID+"/api-keys", admA, ""); st != 503 || took > time.Second {
			t.Errorf("key creation while PostgreSQL refuses: %d %v in %v, want 503 within 1 s", st, out, took)
		}
		if st, out, took := A.call("GET", "/api/v1/users", admA, ""); st != 503 || took > time.Second {
			t.Errorf("listing users while PostgreSQL refuses: %d %v in %v, want 503 within 1 s", st, out, took)
		}
		within(t, "A not ready", time.Second, func() bool { st, _, _ := A.call("GET", "/readyz", "", ""); return st == 503 })
		proxy.setMode("pass")
		within(t, "A ready again", time.Second, func() bool { st, _, _ := A.call("GET", "/readyz", "", ""); return st == 200 })
	})

	// Three outages: one warning each when the store was lost, one line
	// each when it was back, and no line per failed request.
	logs := logA.String()
	lost, back := strings.Count(logs, "store unreachable"), strings.Count(logs, "store reachable again")
	if lost != 3 || back != 3 {
		t.Errorf("A logged %d losses and %d recoveries over three outages, want 3 and 3:\n%s", lost, back, logs)
	}
	if n := strings.Count(logs, "level=ERROR"); n != 0 {
		t.Errorf("A logged %d errors during outages, want none (one warning per outage):\n%s", n, logs)
	}
}

// terminate ends every session the proxy holds for its instance, from the
// PostgreSQL side (pg_terminate_backend).
func terminate(t *testing.T, dsn string, p *pgProxy) {
	t.Helper()
	ports := p.upstreamPorts()
	if len(ports) == 0 {
		return
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE client_port = ANY($1) AND datname = current_database()", ports); err != nil {
		t.Fatal(err)
	}
}

// jwsKid returns the kid in a compact JWS's header.
func jwsKid(t *testing.T, tok string) string {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatalf("token header: %v", err)
	}
	var hdr struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(b, &hdr)
	return hdr.Kid
}
