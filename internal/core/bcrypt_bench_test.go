package core

import (
	"runtime"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// BenchmarkBcryptCompare is one core's bcrypt cost-12 limit: 1/(s/op)
// comparisons per second, the figure the login benchmark is held to.
func BenchmarkBcryptCompare(b *testing.B) {
	hash, err := bcrypt.GenerateFromPassword([]byte("Bench-Passw0rd!"), BcryptCost)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if bcrypt.CompareHashAndPassword(hash, []byte("Bench-Passw0rd!")) != nil {
			b.Fatal("mismatch")
		}
	}
}

func TestBcryptPoolRefusesBeyondItsQueue(t *testing.T) {
	p := newBcryptPool(1, 1)
	p.start()
	defer p.close()
	release := make(chan struct{})
	started := make(chan struct{})
	go func() { _ = p.do(t.Context(), func() { close(started); <-release }) }()
	<-started
	queued := make(chan error, 1)
	go func() { queued <- p.do(t.Context(), func() {}) }()
	for p.waiting.Load() < 2 { // until the second job holds the one queue place
		runtime.Gosched()
	}
	err := p.do(t.Context(), func() { t.Error("a job beyond the queue ran") })
	e := AsError(err)
	if e.Kind != RateLimited || e.RetryAfter <= 0 {
		t.Fatalf("beyond the queue: %v, want RateLimited with a retry hint", err)
	}
	close(release)
	if err := <-queued; err != nil {
		t.Fatalf("queued job: %v", err)
	}
}
