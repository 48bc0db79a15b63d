package core

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// TestBcryptLendsProcsWhileBusy: a busy worker gets a P of its own, and the
// P is given back once the pool has been idle a while.
func TestBcryptLendsProcsWhileBusy(t *testing.T) {
	base := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(base)
	p := newBcryptPool(1, 4)
	p.procs = newProcLender()
	p.start()
	defer p.close()
	var during int
	if err := p.do(context.Background(), func() { during = runtime.GOMAXPROCS(0) }); err != nil {
		t.Fatal(err)
	}
	if during != base+1 {
		t.Fatalf("GOMAXPROCS during bcrypt work = %d, want %d", during, base+1)
	}
	// Back-to-back work keeps the P lent: no resizing per login.
	if err := p.do(context.Background(), func() { during = runtime.GOMAXPROCS(0) }); err != nil || during != base+1 {
		t.Fatalf("second job: GOMAXPROCS %d, %v", during, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.GOMAXPROCS(0) != base {
		if time.Now().After(deadline) {
			t.Fatalf("GOMAXPROCS still %d after the pool went idle, want %d", runtime.GOMAXPROCS(0), base)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Without a lender the pool leaves GOMAXPROCS alone.
	q := newBcryptPool(1, 4)
	q.start()
	defer q.close()
	if err := q.do(context.Background(), func() { during = runtime.GOMAXPROCS(0) }); err != nil || during != base {
		t.Fatalf("without a lender: GOMAXPROCS %d, %v; want %d", during, err, base)
	}
}

// TestThrottledLoginsNeverRefuseAKey: with the bcrypt pool full, password
// logins are refused (an unknown login too: it would cost bcrypt work like a
// known one), while API keys, which need no bcrypt, still work.
func TestThrottledLoginsNeverRefuseAKey(t *testing.T) {
	ctx := context.Background()
	c, admin, key := testCore(t, nil)
	pw := "Correct-Horse-42x"
	if _, _, err := c.CreatePrincipal(ctx, acc(c, admin), PrincipalSpec{Login: "thr", Password: &pw}); err != nil {
		t.Fatal(err)
	}
	c.bcrypt.close()
	c.bcrypt = newBcryptPool(1, 0)
	c.authService.bcrypt = c.bcrypt // logins use the service's pool
	c.bcrypt.start()
	release := make(chan struct{})
	started := make(chan struct{})
	go func() { _ = c.bcrypt.do(ctx, func() { close(started); <-release }) }()
	<-started
	defer close(release)
	for _, login := range []string{"thr", "nobody-at-all"} {
		_, _, err := authPw(ctx, c, "acme", login, pw)
		if AsError(err).Kind != RateLimited {
			t.Errorf("login %s with the pool full: %v, want RateLimited", login, err)
		}
	}
	if _, err := authKey(ctx, c, "acme", key); err != nil {
		t.Fatalf("an API key with the pool full: %v", err)
	}
	if kc, _, err := c.VerifyKey(ctx, loopback, key, Vouch{}); err != nil || !kc.Valid {
		t.Fatalf("verify with the pool full: %+v %v", kc, err)
	}
}

// TestTokenTTLIsConfigurable: Deps.TokenTTL sets the lifetime of tokens.
func TestTokenTTLIsConfigurable(t *testing.T) {
	ctx := context.Background()
	c, admin, _ := testCore(t, nil)
	c2, err := New(ctx, Deps{Store: c.st, Sealer: c.tokenService.sealer, TokenTTL: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	for core, want := range map[*Core]time.Duration{c: 8 * time.Minute, c2: 2 * time.Minute} {
		tok, err := core.IssueToken(admin, FormatNative)
		if err != nil || tok.TTL != want || time.Until(tok.ExpiresAt) > want || time.Until(tok.ExpiresAt) < want-time.Minute {
			t.Errorf("token %+v %v, want a lifetime of %v", tok, err, want)
		}
	}
}

// TestAuditCountsOnlyWhatWasWritten: /metrics counts authentications whose
// record was committed, not ones whose record failed.
func TestAuditCountsOnlyWhatWasWritten(t *testing.T) {
	ctx := context.Background()
	c, _, key := testCore(t, nil)
	k := [2]string{"apikey.verify", "success"}
	if _, _, err := c.VerifyKey(ctx, loopback, key, Vouch{}); err != nil {
		t.Fatal(err)
	}
	if n := c.AuditCounts()[k]; n != 1 {
		t.Fatalf("after one verification: %d", n)
	}
	c.st.Close() // every append fails from here
	if _, _, err := c.VerifyKey(ctx, loopback, key, Vouch{}); err == nil {
		t.Fatal("a verification whose record cannot be written succeeded")
	}
	if n := c.AuditCounts()[k]; n != 1 {
		t.Fatalf("a failed record was counted: %d", n)
	}
}
