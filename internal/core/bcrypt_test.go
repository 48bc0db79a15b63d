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
