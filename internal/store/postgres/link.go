package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/store/sqlstore"
)

// linkEvery is how often each instance tries to link pending audit records
// into the chain; linkBatch is the most one transaction links.
const (
	linkEvery   = 25 * time.Millisecond
	linkBatch   = 256                        // batches (each one appender's group commit)
	linkRecords = sqlstore.PendingMaxRecords // records (1024): a transaction stays well inside --store-timeout, even on a loaded machine; no pending row holds more
)

// One linker at a time: the linker's transaction holds LOCK TABLE
// audit_head IN EXCLUSIVE MODE, the lock every head mover takes (review 25
// F3). Unlike the advisory lock it replaces, whose id any session could
// compute and hold, only a role with UPDATE, DELETE or TRUNCATE on
// audit_head can take a lock that conflicts with it; a linker that dies
// (its connection gone) releases it, and the next instance's linker takes
// over. The background linker asks with NOWAIT (busy: another links now).

// errLinkBusy: another linker holds the head.
var errLinkBusy = errors.New("another linker holds the audit head")

// LinkPending moves every audit record pending now into the chain: the
// batches committed before it was called (later ones are the next call's),
// so a reader under load never chases appenders. With wait it queues behind
// a running linker (readers, which must see every acknowledged record);
// without, it returns at once if another linker is at work (the background
// loop). It returns how many records it linked.
func (s *Store) LinkPending(ctx context.Context, wait bool) (int, error) {
	var upTo *int64
	qctx, cancel := context.WithTimeout(ctx, s.db.timeout)
	err := s.db.pool.QueryRow(qctx, "SELECT max(id) FROM audit_pending").Scan(&upTo)
	cancel()
	if err != nil {
		return 0, fmt.Errorf("link pending audit records: %w", unavailable(err))
	}
	total := 0
	for upTo != nil {
		n, more, busy, err := s.linkOnce(ctx, wait, *upTo)
		total += n
		if err != nil || busy || !more {
			return total, err
		}
	}
	return total, nil
}

// linkOnce links one transaction's worth of the batches up to upTo; more
// says some remain.
func (s *Store) linkOnce(ctx context.Context, wait bool, upTo int64) (n int, more, busy bool, err error) {
	var fresh sqlstore.Names
	var refused []string
	err = s.db.Write(ctx, sqlstore.TxOptions{Isolation: sqlstore.ReadCommitted}, func(q sqlstore.Querier) error {
		n, more, busy, fresh, refused = 0, false, false, sqlstore.Names{}, nil
		lock := "LOCK TABLE audit_head IN EXCLUSIVE MODE"
		if !wait {
			lock += " NOWAIT"
		}
		if _, err := q.Exec(ctx, lock); err != nil {
			var pe *pgconn.PgError
			if !wait && errors.As(err, &pe) && pe.Code == "55P03" { // lock_not_available
				return errLinkBusy
			}
			return fmt.Errorf("lock audit head: %w", err)
		}
		var err error
		n, more, refused, err = s.Store.LinkPendingTx(ctx, q, linkBatch, linkRecords, upTo, fresh)
		return err
	})
	if errors.Is(err, errLinkBusy) {
		return 0, false, true, nil
	}
	if err != nil {
		return 0, false, false, fmt.Errorf("link pending audit records: %w", err)
	}
	s.Store.Remember(fresh)
	sqlstore.LogRefusedPending(refused)
	return n, more, busy, nil
}

// runLinker links pending records at least every linkEvery until ctx ends,
// then once more.
func (s *Store) runLinker(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(linkEvery)
	defer t.Stop()
	var failing bool
	var logged time.Time
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), s.db.timeout)
			_, _ = s.LinkPending(fctx, false)
			cancel()
			return
		case <-t.C:
			// An idle instance asks one cheap question per tick
			// (LinkPending's max(id)). Errors are retried at the next
			// tick; what is pending stays durable, and readers link it
			// themselves. A failure that lasts is logged once a minute
			// (review r25c F4: a linker failing for good said nothing),
			// an outage of the store at debug (the listener reports it).
			_, err := s.LinkPending(ctx, false)
			switch {
			case err != nil && ctx.Err() == nil && time.Since(logged) >= time.Minute:
				level := slog.LevelError
				if errors.Is(err, store.ErrUnavailable) {
					level = slog.LevelDebug
				}
				s.log.Log(ctx, level, "audit: linking pending records failed; retrying every 25 ms", "err", err)
				failing, logged = true, time.Now()
			case err == nil && failing:
				s.log.Info("audit: linking pending records works again")
				failing, logged = false, time.Time{}
			}
		}
	}
}

// ListAudit links what is pending, then lists.
func (s *Store) ListAudit(ctx context.Context, account string, limit, offset int) ([]audit.Record, int, error) {
	if _, err := s.LinkPending(ctx, true); err != nil {
		return nil, 0, err
	}
	return s.Store.ListAudit(ctx, account, limit, offset)
}

// ListAuditFiltered links what is pending, then lists the records that
// match f.
func (s *Store) ListAuditFiltered(ctx context.Context, account string, f audit.Filter, limit, offset int) ([]audit.Record, int, error) {
	if _, err := s.LinkPending(ctx, true); err != nil {
		return nil, 0, err
	}
	return s.Store.ListAuditFiltered(ctx, account, f, limit, offset)
}

// VerifyAudit links what is pending, then verifies the whole chain.
func (s *Store) VerifyAudit(ctx context.Context) (audit.Check, error) {
	if _, err := s.LinkPending(ctx, true); err != nil {
		return audit.Check{}, err
	}
	c, err := s.Store.VerifyAudit(ctx)
	if err != nil {
		return c, err
	}
	qctx, cancel := context.WithTimeout(ctx, s.db.timeout)
	defer cancel()
	if err := s.db.pool.QueryRow(qctx, "SELECT count(*) FROM audit_quarantine").Scan(&c.Quarantined); err != nil {
		return audit.Check{}, unavailable(fmt.Errorf("count quarantined audit batches: %w", err))
	}
	// The chain's keyed audit.pending_rejected records, which no one
	// without the master key can remove unseen, say how many batches
	// were refused; fewer quarantine rows means some were deleted
	// (review r25b R3).
	if c.Rejected > c.Quarantined {
		c.QuarantineMissing = c.Rejected - c.Quarantined
		c.Quarantined = c.Rejected
	}
	return c, nil
}

// RekeyAudit links what is pending, then chains everything again.
func (s *Store) RekeyAudit(ctx context.Context, ev audit.Event) (audit.Check, error) {
	if _, err := s.LinkPending(ctx, true); err != nil {
		return audit.Check{}, err
	}
	return s.Store.RekeyAudit(ctx, ev)
}

// AuditSince links what is pending, then reads from seq from on.
func (s *Store) AuditSince(ctx context.Context, from int64, limit int) ([]audit.Record, error) {
	if _, err := s.LinkPending(ctx, true); err != nil {
		return nil, err
	}
	return s.Store.AuditSince(ctx, from, limit)
}

// PruneAudit links what is pending, then prunes.
func (s *Store) PruneAudit(ctx context.Context, before time.Time, ev audit.Event) (store.AuditPrune, error) {
	if _, err := s.LinkPending(ctx, true); err != nil {
		return store.AuditPrune{}, err
	}
	return s.Store.PruneAudit(ctx, before, ev)
}

// Close stops the linker (which links once more) and closes the pool.
func (s *Store) Close() error {
	if s.stopLinker != nil {
		s.stopLinker()
		<-s.linkerDone
	}
	err := s.Store.Close()
	s.releaseUse()
	return err
}

// AppendWriters is how many batches the core's audit group commit keeps in
// flight (store.ConcurrentAppender). Appends to audit_pending share no
// lock. With AuditSync each commit waits for a WAL flush, time the server
// spends waiting rather than computing, so up to half the pool overlaps
// them. Without it a commit is CPU work on both sides, and one batch at a
// time makes fewer, larger batches: on the 2-core bench machine, one
// writer gave two instances 13-15k verify/s against 10-13k for two,
// alternating runs (bench/README.md).
func (s *Store) AppendWriters() int {
	if !s.auditSync {
		return 1
	}
	return max(1, int(s.db.pool.Config().MaxConns)/2)
}
