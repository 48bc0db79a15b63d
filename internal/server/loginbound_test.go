package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A password login's wait bound runs from when its request arrived (the
// middleware's first moment), not from when it reaches the bcrypt queue: a
// login already past the bound when it gets there is answered 429 with
// Retry-After, even with the worker free. With a 1 ns bound every login is
// past it by the time it reaches the pool; before, a free worker was never
// refused, and the login ran (401 here).
func TestLoginPastItsWaitGets429(t *testing.T) {
	s, err := Open(context.Background(), Config{DataDir: t.TempDir(), Account: "acme", BcryptWorkers: 1,
		LoginMaxWait: time.Nanosecond}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Init(context.Background(), "acme"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for range 3 { // one at a time: the worker is always free
		res, err := http.Post(srv.URL+"/api/v1/token", "application/json",
			strings.NewReader(`{"account":"acme","login":"admin","password":"Wrong-Passw0rd!"}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
			t.Fatalf("a login past its wait bound: %d, Retry-After %q; want 429 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
		}
	}
}
