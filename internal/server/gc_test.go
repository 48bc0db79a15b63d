package server

import (
	"context"
	"os"
	"runtime"
	rtmetrics "runtime/metrics"
	"testing"
	"time"
)

func TestGCPercent(t *testing.T) {
	for _, c := range []struct {
		live, floor uint64
		want        int
	}{
		{0, 128 << 20, 100},
		{16 << 20, 128 << 20, 700},  // next collection at 128 MiB
		{1 << 20, 128 << 20, 1000},  // capped
		{64 << 20, 128 << 20, 100},  // already at half the floor: the default
		{600 << 20, 128 << 20, 100}, // a large heap keeps its peak at twice its size
		{40 << 20, 128 << 20, 200},  // 128/40 = 3 → 120 MiB
	} {
		if got := gcPercent(c.live, c.floor); got != c.want {
			t.Errorf("gcPercent(%d MiB, %d MiB) = %d, want %d", c.live>>20, c.floor>>20, got, c.want)
		}
	}
}

// TestTuneGC: with a floor far above this test's heap GOGC goes up, and it
// is back at the default when the tuner stops.
func TestTuneGC(t *testing.T) {
	t.Setenv("GOGC", "") // restored after the test
	os.Unsetenv("GOGC")
	runtime.GC() // so that there is a live heap to measure
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { TuneGC(ctx, 1<<40); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		pct := gogc()
		if pct == 1000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GOGC = %d under a 1 TiB floor, want 1000", pct)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if pct := gogc(); pct != 100 {
		t.Fatalf("GOGC after the tuner stopped = %d, want 100", pct)
	}
	// An operator's GOGC wins: checked while the tuner runs, whose first
	// look would otherwise raise it at once.
	t.Setenv("GOGC", "100")
	ctx, cancel = context.WithCancel(context.Background())
	done = make(chan struct{})
	go func() { TuneGC(ctx, 1<<40); close(done) }()
	time.Sleep(200 * time.Millisecond)
	pct := gogc()
	cancel()
	<-done
	if pct != 100 {
		t.Fatalf("GOGC with the variable set = %d, want 100", pct)
	}
}

func gogc() int {
	s := []rtmetrics.Sample{{Name: "/gc/gogc:percent"}}
	rtmetrics.Read(s)
	return int(s[0].Value.Uint64())
}
