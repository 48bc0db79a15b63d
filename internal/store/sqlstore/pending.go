package sqlstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/keyward/keyward/internal/audit"
)

// Pending audit: a backend shared by several instances (PostgreSQL) makes
// each acknowledged record durable in audit_pending with a plain insert,
// no shared lock, and one linker at a time moves them into the chain.

const pendingCols = "time_us, account, event, outcome, reason, actor, subject, key_id, client_ip, peer_ip, request_id, authenticator, detail"

const pendingInsert = "INSERT INTO audit_pending (" + pendingCols + ") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)"

// UsePendingAudit makes every audited write and AppendAudit put its records
// in audit_pending instead of the chain; LinkPending links them. For
// backends that several instances share.
func (s *Store) UsePendingAudit() { s.pending = true }

// insertPending writes evs to audit_pending with q as one row (a batch:
// one array element per record, in order), so a batch stays contiguous
// in the chain whatever other appenders do. PostgreSQL only (arrays).
func (s *Store) insertPending(ctx context.Context, q Querier, evs []audit.Event) error {
	now := time.Now()
	n := len(evs)
	us := make([]int64, n)
	cols := make([][]string, 12)
	for j := range cols {
		cols[j] = make([]string, n)
	}
	for i, ev := range evs {
		if ev.Time.IsZero() {
			ev.Time = now
		}
		ev = audit.Clean(ev)
		us[i] = ev.Time.UnixMicro()
		for j, v := range [...]string{ev.Account, ev.Event, ev.Outcome, ev.Reason, ev.Actor, ev.Subject, ev.KeyID,
			ev.ClientIP, ev.PeerIP, ev.RequestID, ev.Authenticator, ev.Detail} {
			cols[j][i] = v
		}
	}
	args := []any{us}
	for _, c := range cols {
		args = append(args, c)
	}
	if _, err := q.Exec(ctx, pendingInsert, args...); err != nil {
		return fmt.Errorf("insert pending audit records: %w", err)
	}
	return nil
}

// appendPending makes evs durable in audit_pending: one statement, one
// round trip, atomic on its own.
func (s *Store) appendPending(ctx context.Context, evs []audit.Event) error {
	return s.insertPending(ctx, s.db.Pool(), evs)
}

// LinkPendingTx moves up to limit pending batches, oldest first, into the
// chain after its head, with q: a transaction that holds the audit lock and
// is the only linker; names it adds go to fresh (Remember them once q has
// committed). It returns how many batches it linked.
func (s *Store) LinkPendingTx(ctx context.Context, q Querier, limit int, fresh Names) (int, error) {
	type batch struct {
		id  int64
		evs []audit.Event
	}
	var batches []batch
	err := queryAll(ctx, q, func(r Rows) error {
		var b batch
		var us []int64
		cols := make([][]string, 12)
		dest := []any{&b.id, &us}
		for j := range cols {
			dest = append(dest, &cols[j])
		}
		if err := r.Scan(dest...); err != nil {
			return err
		}
		for j := range cols {
			if len(cols[j]) != len(us) {
				return fmt.Errorf("pending audit batch %d: its columns differ in length", b.id)
			}
		}
		b.evs = make([]audit.Event, len(us))
		for i := range us {
			b.evs[i] = audit.Event{Time: time.UnixMicro(us[i]).UTC(), Account: cols[0][i], Event: cols[1][i], Outcome: cols[2][i],
				Reason: cols[3][i], Actor: cols[4][i], Subject: cols[5][i], KeyID: cols[6][i], ClientIP: cols[7][i],
				PeerIP: cols[8][i], RequestID: cols[9][i], Authenticator: cols[10][i], Detail: cols[11][i]}
		}
		batches = append(batches, b)
		return nil
	}, "DELETE FROM audit_pending WHERE id IN (SELECT id FROM audit_pending ORDER BY id LIMIT $1) RETURNING id, "+pendingCols, limit)
	if err != nil {
		return 0, fmt.Errorf("take pending audit records: %w", err)
	}
	if len(batches) == 0 {
		return 0, nil
	}
	if err := s.checkHeadKey(ctx, q); err != nil {
		return 0, err
	}
	slices.SortFunc(batches, func(a, b batch) int { return cmp.Compare(a.id, b.id) })
	var evs []audit.Event
	for _, b := range batches {
		evs = append(evs, b.evs...)
	}
	if err := s.chainAudit(ctx, q, evs, fresh); err != nil {
		return 0, err
	}
	return len(batches), nil
}

// ErrWrongAuditKey means the chain's last record does not verify under the
// store's key: linking would seal records under another master key.
var ErrWrongAuditKey = errors.New("the audit chain's last record does not verify under this master key: nothing was linked")

// checkHeadKey verifies the chain's last record under the store's key, so a
// linker started with another master key links nothing. A chain with
// nothing after its checkpoint, or ending in an unkeyed record, passes
// (there is nothing keyed to check against).
func (s *Store) checkHeadKey(ctx context.Context, q Querier) error {
	head, _, err := s.readHead(ctx, q, "")
	if err != nil {
		return err
	}
	cp, err := s.AuditCheckpoint(ctx, q)
	if err != nil {
		return err
	}
	if head <= cp.Seq {
		return nil
	}
	var recs []audit.Record
	err = queryAll(ctx, q, func(r Rows) error {
		var rec audit.Record
		if err := scanRecord(r, &rec); err != nil {
			return err
		}
		recs = append(recs, rec)
		return nil
	}, auditSelect+" WHERE e.seq >= $1 AND e.seq <= $2 ORDER BY e.seq", max(head-1, cp.Seq+1), head)
	if err != nil {
		return fmt.Errorf("read the chain's last record: %w", err)
	}
	if len(recs) == 0 {
		return nil
	}
	prev := cp.Hash
	if len(recs) == 2 {
		prev = recs[0].Hash
	}
	last := recs[len(recs)-1]
	if !last.Keyed {
		return nil
	}
	if s.key.Chain(last.Seq, prev, &last.Event) != last.Hash {
		return ErrWrongAuditKey
	}
	return nil
}
