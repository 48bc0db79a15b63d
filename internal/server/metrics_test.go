package server_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/server"
)

// scrape reads h's /metrics into a map from each series as rendered
// (name{label="v",…}, labels sorted by name as Prometheus renders them) to
// its value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// moved asserts series changed by want (or, with want < 0, by at least one).
func moved(t *testing.T, before, after map[string]float64, series string, want float64) {
	t.Helper()
	if _, ok := after[series]; !ok {
		t.Errorf("no series %s", series)
		return
	}
	d := after[series] - before[series]
	if (want < 0 && d < 1) || (want >= 0 && d != want) {
		t.Errorf("%s moved by %g (from %g to %g), want %g", series, d, before[series], after[series], want)
	}
}

// TestEveryMetricMoves drives a server through what each metric counts and
// checks, metric by metric, that it moved by what was done.
func TestEveryMetricMoves(t *testing.T) {
	p := newInProcess(t)
	url := p.srv.URL
	var user struct {
		ID string `json:"id"`
	}
	p.json(p.do("POST", "/api/v1/users", p.admin, `{"login":"mo","password":"Metrics-Passw0rd!"}`), 201, &user)
	var key struct {
		Key string `json:"key"`
	}
	p.json(p.do("POST", "/api/v1/users/"+user.ID+"/api-keys", p.admin, `{}`), 201, &key)

	// The Go runtime and process collectors come with the client library.
	m := scrape(t, url)
	for _, want := range []string{"go_goroutines", "process_resident_memory_bytes", `keyward_cache_entries{kind="keys"}`,
		`keyward_cache_entries{kind="principals"}`, `keyward_cache_entries{kind="tokens"}`, "keyward_bcrypt_queue_length",
		"keyward_bcrypt_workers_busy", "keyward_audit_journal_backlog", "keyward_audit_ingest_failures_total"} {
		if _, ok := m[want]; !ok {
			t.Errorf("metrics lack %s", want)
		}
	}
	if m["keyward_bcrypt_queue_length"] != 0 || m["keyward_bcrypt_workers_busy"] != 0 {
		t.Errorf("idle bcrypt pool: queue %g, busy %g", m["keyward_bcrypt_queue_length"], m["keyward_bcrypt_workers_busy"])
	}

	t.Run("authentications by surface, method and outcome", func(t *testing.T) {
		before := scrape(t, url)
		p.json(p.do("POST", "/api/v1/token", "", `{"api_key":"`+key.Key+`"}`), 200, nil)
		p.json(p.do("POST", "/api/v1/token", "", `{"api_key":"`+key.Key+`x"}`), 401, nil)
		p.json(p.do("POST", "/api/v1/token", "", `{"account":"acme","login":"mo","password":"Metrics-Passw0rd!"}`), 200, nil)
		p.json(p.do("POST", "/api/v1/api-keys/verify", "", `{"key":"`+key.Key+`"}`), 200, nil)
		p.json(p.do("POST", "/authn/acme/mo/authenticate", "", key.Key), 200, nil)
		after := scrape(t, url)
		moved(t, before, after, `keyward_authentications_total{method="api_key",outcome="success",surface="native"}`, 1)
		moved(t, before, after, `keyward_authentications_total{method="api_key",outcome="failure",surface="native"}`, 1)
		moved(t, before, after, `keyward_authentications_total{method="password",outcome="success",surface="native"}`, 1)
		moved(t, before, after, `keyward_authentications_total{method="api_key_verify",outcome="success",surface="native"}`, 1)
		moved(t, before, after, `keyward_authentications_total{method="api_key",outcome="success",surface="conjur"}`, 1)
		moved(t, before, after, `keyward_http_requests_total{route="POST /api/v1/token",status="401"}`, 1)
		moved(t, before, after, `keyward_http_request_duration_seconds_count{route="POST /api/v1/api-keys/verify",status="200"}`, 1)
	})

	t.Run("bcrypt wait", func(t *testing.T) {
		before := scrape(t, url)
		p.json(p.do("POST", "/api/v1/token", "", `{"account":"acme","login":"mo","password":"Metrics-Passw0rd!"}`), 200, nil)
		after := scrape(t, url)
		moved(t, before, after, "keyward_bcrypt_wait_seconds_count", 1)
	})

	t.Run("audit appended and batch size", func(t *testing.T) {
		before := scrape(t, url)
		for range 3 {
			p.json(p.do("POST", "/api/v1/api-keys/verify", "", `{"key":"`+key.Key+`"}`), 200, nil)
		}
		after := scrape(t, url)
		moved(t, before, after, "keyward_audit_appended_total", -1)
		if d := after["keyward_audit_appended_total"] - before["keyward_audit_appended_total"]; d < 3 {
			t.Errorf("three audited verifications appended %g records", d)
		}
		moved(t, before, after, "keyward_audit_batch_size_count", -1)
		moved(t, before, after, "keyward_audit_batch_size_sum", -1)
	})

	t.Run("cache entries", func(t *testing.T) {
		before := scrape(t, url)
		var k2 struct {
			Key string `json:"key"`
		}
		p.json(p.do("POST", "/api/v1/users/"+user.ID+"/api-keys", p.admin, `{}`), 201, &k2)
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		p.json(p.do("POST", "/api/v1/token", "", `{"api_key":"`+k2.Key+`"}`), 200, &tok)
		p.json(p.do("GET", "/api/v1/users/"+user.ID, tok.AccessToken, ""), 200, nil)
		after := scrape(t, url)
		moved(t, before, after, `keyward_cache_entries{kind="keys"}`, 1)
		moved(t, before, after, `keyward_cache_entries{kind="tokens"}`, -1)
		if after[`keyward_cache_entries{kind="principals"}`] < 1 {
			t.Errorf("no principal cached after key logins: %g", after[`keyward_cache_entries{kind="principals"}`])
		}
	})
}

// TestBcryptRefusalsCounted: with a login wait bound below one bcrypt time
// and one worker, concurrent password logins beyond the first are refused
// with 429 and Retry-After, each counted in keyward_bcrypt_refusals_total.
func TestBcryptRefusalsCounted(t *testing.T) {
	s, err := server.Open(context.Background(), server.Config{DataDir: t.TempDir(), Account: "acme", BcryptWorkers: 1,
		LoginMaxWait: time.Nanosecond}, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Init(context.Background(), "acme"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer func() { srv.Close(); _ = s.Close() }()
	before := scrape(t, srv.URL)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		refused int
		other   []int
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(srv.URL+"/api/v1/token", "application/json",
				strings.NewReader(`{"account":"acme","login":"nobody","password":"Wrong-Passw0rd!"}`))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			if resp.StatusCode == 429 {
				if resp.Header.Get("Retry-After") == "" {
					t.Error("429 without Retry-After")
				}
				refused++
			} else {
				other = append(other, resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	if refused == 0 {
		t.Fatalf("8 concurrent logins behind one worker with a 1ns bound: none refused (statuses %v)", other)
	}
	for _, st := range other {
		if st != 401 {
			t.Errorf("a login not refused answered %d, want 401", st)
		}
	}
	after := scrape(t, srv.URL)
	moved(t, before, after, "keyward_bcrypt_refusals_total", float64(refused))
}

// TestMetricsListen: with MetricsListen set, /metrics is served by
// MetricsHandler (the separate listener) and no longer by the main handler.
func TestMetricsListen(t *testing.T) {
	s, err := server.Open(context.Background(), server.Config{DataDir: t.TempDir(), Account: "acme", MetricsListen: "127.0.0.1:0"}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	main := httptest.NewServer(s.Handler())
	defer main.Close()
	resp, err := http.Get(main.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("/metrics on the main listener with --metrics-listen: %d, want 404", resp.StatusCode)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ServeMetrics(ctx, ln) }()
	if m := scrape(t, "http://"+ln.Addr().String()); len(m) == 0 {
		t.Fatal("the metrics listener serves no metrics")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
