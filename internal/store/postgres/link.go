package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/store/sqlstore"
)

// linkEvery is how often each instance tries to link pending audit records
// into the chain; linkBatch is the most one transaction links.
const (
	linkEvery = 25 * time.Millisecond
	linkBatch = 4 // batches (each up to a group commit of records): a transaction stays well inside --store-timeout
)

// linkLock is the advisory lock one linker at a time holds, per schema,
// for the length of its transaction: a linker that dies (its connection
// gone) releases it, and the next instance's linker takes over.
const linkLock = "hashtext('keyward.audit.link.' || current_schema())"

// LinkPending moves every audit record pending now into the chain. With
// wait it queues behind a running linker (readers, which must see every
// acknowledged record); without, it returns at once if another linker is at
// work (the background loop). It returns how many records it linked.
func (s *Store) LinkPending(ctx context.Context, wait bool) (int, error) {
	total := 0
	for {
		n, busy, err := s.linkOnce(ctx, wait)
		total += n
		if err != nil || busy || n < linkBatch {
			return total, err
		}
	}
}

func (s *Store) linkOnce(ctx context.Context, wait bool) (n int, busy bool, err error) {
	var fresh sqlstore.Names
	err = s.db.Write(ctx, sqlstore.TxOptions{Isolation: sqlstore.ReadCommitted}, func(q sqlstore.Querier) error {
		n, busy, fresh = 0, false, sqlstore.Names{}
		if wait {
			if _, err := q.Exec(ctx, "SELECT pg_advisory_xact_lock("+linkLock+")"); err != nil {
				return fmt.Errorf("wait for the audit linker: %w", err)
			}
		} else {
			var got bool
			rows, err := q.Query(ctx, "SELECT pg_try_advisory_xact_lock("+linkLock+")")
			if err != nil {
				return fmt.Errorf("audit linker lock: %w", err)
			}
			for rows.Next() {
				if err := rows.Scan(&got); err != nil {
					rows.Close()
					return err
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if !got {
				busy = true
				return nil
			}
		}
		// The head moves only under the linker lock; the table lock keeps
		// out any appender that still chains directly (audit rekey).
		if _, err := q.Exec(ctx, "LOCK TABLE audit_head IN EXCLUSIVE MODE"); err != nil {
			return fmt.Errorf("lock audit head: %w", err)
		}
		var err error
		n, err = s.Store.LinkPendingTx(ctx, q, linkBatch, fresh)
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("link pending audit records: %w", err)
	}
	s.Store.Remember(fresh)
	return n, busy, nil
}

// runLinker links pending records at least every linkEvery until ctx ends,
// then once more.
func (s *Store) runLinker(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(linkEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), s.db.timeout)
			_, _ = s.LinkPending(fctx, false)
			cancel()
			return
		case <-t.C:
			// An idle instance asks one cheap question per tick. Errors
			// are retried at the next tick; what is pending stays durable,
			// and readers link it themselves.
			var pending bool
			qctx, cancel := context.WithTimeout(ctx, s.db.timeout)
			err := s.db.pool.QueryRow(qctx, "SELECT EXISTS (SELECT 1 FROM audit_pending)").Scan(&pending)
			cancel()
			if err != nil || !pending {
				continue
			}
			_, _ = s.LinkPending(ctx, false)
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
	return s.Store.VerifyAudit(ctx)
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
	if s.useConn != nil {
		_ = s.useConn.Close(context.Background())
		s.useConn = nil
	}
	return err
}

// AppendWriters lets the core's audit group commit keep up to half the pool
// busy with batches (store.ConcurrentAppender): appends to audit_pending
// share no lock, so only the round trips bound them.
func (s *Store) AppendWriters() int { return max(1, int(s.db.pool.Config().MaxConns)/2) }
