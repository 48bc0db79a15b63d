package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/store"
)

// auditor is the group commit for audit records that are not part of a
// store write (authentications, reads, denials). Each caller waits for the
// transaction holding its record, so an authentication whose record cannot
// be written fails; batching makes that affordable on the hot path.
type auditor struct {
	counts sync.Map // [2]string{event, outcome} -> *atomic.Int64
	st     store.Store
	log    *slog.Logger
	now    func() time.Time // the core's clock, for the time of records
	in     chan auditReq
	done   chan struct{}
	// waits pools the one-slot channels callers wait on; a channel goes back
	// only after its answer was received, so it is always empty in the pool.
	waits sync.Pool
	meter Meter
	// writers is how many batches may be in flight at once (store.
	// ConcurrentAppender); slots and inflight bound and track them.
	writers  int
	slots    chan struct{}
	inflight sync.WaitGroup
}

type auditReq struct {
	ev   audit.Event
	done chan error
}

const auditBatchMax = 512

// Under load the auditor lingers briefly after the first record of a batch,
// so a commit carries tens of records instead of two or three: each commit
// has a fixed cost (locks, WAL frames) several times that of a record.
// Idle, it commits at once.
const (
	auditLinger      = 100 * time.Microsecond
	auditLingerUntil = 64                   // a batch this large commits without waiting longer
	auditBusy        = 2 * time.Millisecond // a flush this recent means load
)

func newAuditor(st store.Store, log *slog.Logger, now func() time.Time, meter Meter) *auditor {
	if meter == nil {
		meter = nopMeter{}
	}
	a := &auditor{st: st, log: log, now: now, meter: meter, in: make(chan auditReq, 4096), done: make(chan struct{}), writers: 1}
	if ca, ok := st.(store.ConcurrentAppender); ok {
		a.writers = max(1, ca.AppendWriters())
	}
	a.slots = make(chan struct{}, a.writers)
	a.waits.New = func() any { return make(chan error, 1) }
	return a
}

func (a *auditor) run(ctx context.Context) {
	defer close(a.done)
	batch := make([]auditReq, 0, auditBatchMax)
	evs := make([]audit.Event, 0, auditBatchMax)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	var lastFlush time.Time
	for {
		var first auditReq
		select {
		case first = <-a.in:
		case <-ctx.Done():
			// Drain what is queued so no waiting caller is left hanging.
			for {
				select {
				case r := <-a.in:
					batch = append(batch, r)
				default:
					a.inflight.Wait()
					a.flush(batch, evs)
					return
				}
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < auditBatchMax {
			select {
			case r := <-a.in:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		if len(batch) < auditLingerUntil && time.Since(lastFlush) < auditBusy {
			linger.Reset(auditLinger)
		wait:
			for len(batch) < auditLingerUntil {
				select {
				case r := <-a.in:
					batch = append(batch, r)
				case <-linger.C:
					break wait
				}
			}
			linger.Stop()
		}
		if a.writers <= 1 {
			a.flush(batch, evs)
			lastFlush = time.Now()
			batch = batch[:0]
			continue
		}
		// Several batches in flight: a shared store's commit is a network
		// round trip, so the next batch need not wait for this one. While
		// every writer is busy, records pile up into a larger batch.
		a.slots <- struct{}{}
		a.inflight.Add(1)
		go func(batch []auditReq) {
			defer func() { <-a.slots; a.inflight.Done() }()
			a.flush(batch, make([]audit.Event, 0, len(batch)))
		}(slices.Clone(batch))
		lastFlush = time.Now()
		batch = batch[:0]
	}
}

func (a *auditor) flush(batch []auditReq, evs []audit.Event) {
	if len(batch) == 0 {
		return
	}
	evs = evs[:0]
	for _, r := range batch {
		evs = append(evs, r.ev)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := a.st.AppendAudit(ctx, evs...)
	cancel()
	ctx = context.Background()
	if err != nil {
		a.log.Log(ctx, outageLevel(err), "audit append failed", "records", len(evs), "err", err)
		err = fmt.Errorf("append audit: %w", err)
	} else {
		a.meter.AuditAppended(len(evs))
		a.meter.AuditBatch(len(evs))
	}
	for _, r := range batch {
		if err == nil {
			a.count(r.ev) // what /metrics reports is what was written
		}
		r.done <- err
	}
}

// record appends ev and waits until it is committed.
func (a *auditor) record(ctx context.Context, ev audit.Event) error {
	done := a.waits.Get().(chan error)
	select {
	case a.in <- auditReq{ev: ev, done: done}:
	case <-a.done:
		return &Error{Kind: Unavailable, Msg: "shutting down"}
	case <-ctx.Done():
		return AsError(ctx.Err())
	}
	select {
	case err := <-done:
		a.waits.Put(done)
		if err != nil {
			return &Error{Kind: Unavailable, Msg: "audit log unavailable", Err: err}
		}
		return nil
	case <-ctx.Done():
		// The record is queued and will still be written.
		return AsError(ctx.Err())
	}
}

func (a *auditor) count(ev audit.Event) {
	k := [2]string{ev.Event, ev.Outcome}
	v, ok := a.counts.Load(k)
	if !ok {
		v, _ = a.counts.LoadOrStore(k, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(1)
}

// AuditCounts returns how many audit records of each event and outcome this
// process has written, for metrics.
func (c *auditService) AuditCounts() map[[2]string]int64 {
	out := map[[2]string]int64{}
	c.audit.counts.Range(func(k, v any) bool {
		out[k.([2]string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// event starts an audit event for caller.
func (a *auditor) event(caller Caller, account, name string) audit.Event {
	return audit.Event{
		Time: a.now(), Account: account, Event: name, Outcome: audit.Success,
		ClientIP: addrString(caller.ClientIP), PeerIP: addrString(caller.PeerIP), RequestID: caller.RequestID,
	}
}

// fail marks ev as a failure with reason.
func fail(ev audit.Event, reason Reason) audit.Event {
	ev.Outcome = audit.Failure
	ev.Reason = string(reason)
	return ev
}

// recordFailure writes a failure record; its own failure is logged, since
// the caller is being refused anyway.
func (a *auditor) recordFailure(ctx context.Context, ev audit.Event) {
	if err := a.record(ctx, ev); err != nil {
		a.log.Log(ctx, outageLevel(err), "audit of a refusal failed", "event", ev.Event, "err", err)
	}
}

// outageLevel is the level of a failure: debug when it only says the store
// is out of reach (the change listener logs the outage once), else error.
func outageLevel(err error) slog.Level {
	if errors.Is(err, store.ErrUnavailable) {
		return slog.LevelDebug
	}
	return slog.LevelError
}
