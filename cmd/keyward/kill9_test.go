package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestKill9LosesNothing: two instances on one PostgreSQL; A is killed with
// SIGKILL while it creates keys. Every key A answered 201 for works on B
// within 1 s and on A after its restart, and the one audit chain verifies.
func TestKill9LosesNothing(t *testing.T) {
	clearSettingsEnv(t)
	db := storeDB(t)
	parent := t.TempDir()
	dirA, dirB := filepath.Join(parent, "a"), filepath.Join(parent, "b")
	var out, errb bytes.Buffer
	if code := cmdInit([]string{"--data", dirA, "--store", db, "--account", "acme"}, &out, &errb); code != 0 {
		t.Fatalf("init: %s", errb.String())
	}
	var ans struct {
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal(out.Bytes(), &ans); err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile(filepath.Join(dirA, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dirB, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dirB, "master.key"), mk, 0o600); err != nil {
		t.Fatal(err)
	}
	env := cleanEnv()
	args := func(dir string) []string {
		return []string{"--data", dir, "--store", db, "--listen", "127.0.0.1:0", "--account", "acme", "--log-format", "text"}
	}
	A := startServe(t, env, args(dirA)...)
	B := startServe(t, env, args(dirB)...)

	call := func(addr, method, path, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+ans.APIKey)
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	st, users := call(A.addr, "GET", "/api/v1/users", "")
	if st != 200 {
		t.Fatalf("list users on A: %d", st)
	}
	adminID := users["items"].([]any)[0].(map[string]any)["id"].(string)

	var mu sync.Mutex
	var made []string // keys A answered 201 for
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				st, k := call(A.addr, "POST", "/api/v1/users/"+adminID+"/api-keys", "")
				if st == 201 {
					mu.Lock()
					made = append(made, k["key"].(string))
					mu.Unlock()
				} else if st == 0 {
					return // A is gone
				}
			}
		}()
	}
	time.Sleep(400 * time.Millisecond)
	A.kill() // SIGKILL
	close(stop)
	wg.Wait()
	if len(made) == 0 {
		t.Fatal("A made no key before it was killed")
	}
	verify := func(addr, key string) bool {
		req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/api-keys/verify", strings.NewReader(`{"key":"`+key+`"}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return m["valid"] == true
	}
	// Checked by 8 clients at once, so checking takes little of the second.
	start := time.Now()
	keys := make(chan string, len(made))
	for _, k := range made {
		keys <- k
	}
	close(keys)
	late := make(chan string, len(made))
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range keys {
				for !verify(B.addr, k) {
					if time.Since(start) > time.Second {
						late <- k
						break
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	close(late)
	if n := len(late); n > 0 {
		t.Fatalf("%d of %d keys A answered 201 for are not valid on B 1 s after A was killed", n, len(made))
	}
	t.Logf("%d keys made on A before kill -9, all valid on B after %v", len(made), time.Since(start))

	A2 := startServe(t, env, args(dirA)...)
	for _, k := range made {
		if !verify(A2.addr, k) {
			t.Fatalf("a key A answered 201 for is not valid on A after its restart")
		}
	}
	out.Reset()
	errb.Reset()
	if code := cmdAuditVerify([]string{"--data", dirB, "--store", db}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "audit chain intact") {
		t.Fatalf("audit verify after kill -9: %d %q %q", code, out.String(), errb.String())
	}
	t.Log(strings.TrimSpace(out.String()))
}
