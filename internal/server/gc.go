package server

import (
	"context"
	"os"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"time"
)

// GCFloor is the heap size below which TuneGC keeps the collector from
// running: 128 MiB.
const GCFloor = 128 << 20

// TuneGC raises GOGC while the live heap is small, until ctx ends. At the
// default GOGC=100 a server holding 15 MB is collected every 15 MB of
// allocation, dozens of times a second under load (verify spent ~6% of its
// CPU in the collector); with the heap allowed to grow to floor first, it is
// collected several times less often. A large heap (a million keys) keeps
// GOGC=100, so its peak stays at twice what it holds. An operator's GOGC
// setting wins: then TuneGC does nothing.
func TuneGC(ctx context.Context, floor uint64) {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	sample := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last := 100
	defer func() { debug.SetGCPercent(100) }()
	for {
		rtmetrics.Read(sample)
		if sample[0].Value.Kind() == rtmetrics.KindUint64 {
			if pct := gcPercent(sample[0].Value.Uint64(), floor); pct != last {
				debug.SetGCPercent(pct)
				last = pct
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// gcPercent is the GOGC that puts the next collection at floor for a live
// heap of live bytes, between 100 (the default) and 1000.
func gcPercent(live, floor uint64) int {
	if live == 0 || floor <= 2*live {
		return 100
	}
	return int(min(1000, (floor/live-1)*100))
}
