package sqlstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/audit"
)

// Pending audit: a backend shared by several instances (PostgreSQL) makes
// each acknowledged record durable in audit_pending with a plain insert,
// no shared lock, and one linker at a time moves them into the chain.

const pendingCols = "time_us, account, event, outcome, reason, actor, subject, key_id, client_ip, peer_ip, request_id, authenticator, detail"

const pendingInsert = "INSERT INTO audit_pending (" + pendingCols + ", mac) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)"

// pendingInsertAsync is pendingInsert committing with synchronous_commit
// off (set for its own transaction only: set_config's is_local), for an
// audit-only append that is a transaction of its own.
const pendingInsertAsync = "INSERT INTO audit_pending (" + pendingCols + ", mac) SELECT $1::bigint[],$2::text[],$3::text[],$4::text[]," +
	"$5::text[],$6::text[],$7::text[],$8::text[],$9::text[],$10::text[],$11::text[],$12::text[],$13::text[],$14::bytea " +
	"FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async"

// PendingRejectedEvent is the event of the record a linker chains in place
// of a pending batch it refused (its MAC did not verify); the batch is kept
// in audit_quarantine.
const PendingRejectedEvent = "audit.pending_rejected"

// PendingMaxRecords is the most records one audit_pending row holds:
// insertPending splits a larger batch into rows of at most this many, and
// migration 0024 (PostgreSQL) refuses a row with more, or with columns of
// different lengths or dimensions (review r25b R5: a linker must never load
// a forged batch too large to chain within --store-timeout). Change it
// only with a migration that changes the CHECK.
const PendingMaxRecords = 1024

// UsePendingAudit makes every audited write and AppendAudit put its records
// in audit_pending instead of the chain; LinkPending links them. For
// backends that several instances share. With async, AppendAudit's
// appends (records no write carries) commit with synchronous_commit off:
// committed before it returns, flushed to disk by the server's WAL writer
// soon after (PostgreSQL only).
func (s *Store) UsePendingAudit(async bool) { s.pending, s.pendingAsync = true, async }

// insertPending writes evs to audit_pending with q as one row (a batch:
// one array element per record, in order), so a batch stays contiguous
// in the chain whatever other appenders do, with its MAC under the chain
// key (audit.Key.PendingMAC): a linker chains only batches whose MAC
// verifies. PostgreSQL only (arrays).
func (s *Store) insertPending(ctx context.Context, q Querier, evs []audit.Event) error {
	for len(evs) > PendingMaxRecords {
		if err := s.insertPendingRow(ctx, q, pendingInsert, evs[:PendingMaxRecords]); err != nil {
			return err
		}
		evs = evs[PendingMaxRecords:]
	}
	return s.insertPendingRow(ctx, q, pendingInsert, evs)
}

// insertPendingRow writes evs (at most PendingMaxRecords) as one row with
// the statement insert (pendingInsert or pendingInsertAsync).
func (s *Store) insertPendingRow(ctx context.Context, q Querier, insert string, evs []audit.Event) error {
	now := time.Now()
	n := len(evs)
	us := make([]int64, n)
	cols := make([][]string, 12)
	for j := range cols {
		cols[j] = make([]string, n)
	}
	clean := make([]audit.Event, n)
	for i, ev := range evs {
		if ev.Time.IsZero() {
			ev.Time = now
		}
		ev = audit.Clean(ev)
		clean[i] = ev
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
	args = append(args, s.key.PendingMAC(clean))
	if _, err := q.Exec(ctx, insert, args...); err != nil {
		return fmt.Errorf("insert pending audit records: %w", err)
	}
	return nil
}

// appendPending makes evs durable in audit_pending: one statement, one
// round trip, atomic on its own.
func (s *Store) appendPending(ctx context.Context, evs []audit.Event) error {
	if len(evs) <= PendingMaxRecords {
		insert := pendingInsert
		if s.pendingAsync {
			insert = pendingInsertAsync
		}
		return s.insertPendingRow(ctx, s.db.Pool(), insert, evs)
	}
	// Several rows: one transaction, so they commit together.
	return s.db.Write(ctx, TxOptions{Isolation: ReadCommitted}, func(q Querier) error {
		if s.pendingAsync {
			if _, err := q.Exec(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
				return fmt.Errorf("append audit records: %w", err)
			}
		}
		return s.insertPending(ctx, q, evs)
	})
}

// LinkPendingTx moves up to limit pending batches, oldest first, into the
// chain after its head, with q: a transaction that holds the audit lock and
// is the only linker; names it adds go to fresh (Remember them once q has
// committed). A batch whose MAC does not verify under the store's key
// (written or altered by someone without the master key), or that is
// malformed, is not chained: it is moved to audit_quarantine as found, and
// an audit.pending_rejected record takes its place in the chain. It takes
// batches with ids up to upTo: at most limit, and no more than fit in
// maxRecords records (but always the first). It returns how many records
// it took, and whether batches up to upTo remain.
func (s *Store) LinkPendingTx(ctx context.Context, q Querier, limit, maxRecords int, upTo int64, fresh Names) (records int, more bool, refused []string, err error) {
	now := time.Now()
	// Rows no appender writes (too many records, columns of different
	// lengths or dimensions: forged, or from before migration 0024's
	// CHECK) are moved to audit_quarantine by the server, never read into
	// memory here (review r25b R5).
	var evs []audit.Event
	err = queryAll(ctx, q, func(r Rows) error {
		var id, n int64
		if err := r.Scan(&id, &n); err != nil {
			return err
		}
		records += int(n)
		evs = append(evs, audit.Event{Time: now, Event: PendingRejectedEvent, Outcome: audit.Failure, Actor: "keyward",
			Detail: fmt.Sprintf("pending audit batch %d (%d records) not chained: %s; kept in audit_quarantine", id, n, pendingMalformedWhy)})
		refused = append(refused, strconv.FormatInt(id, 10))
		return nil
	}, pendingQuarantineMalformed, upTo, PendingMaxRecords, now.UnixMicro(), pendingMalformedWhy)
	if err != nil {
		return 0, false, nil, fmt.Errorf("quarantine malformed pending audit batches: %w", err)
	}
	type batch struct {
		id   int64
		us   []*int64
		cols [][]*string
		mac  []byte
		evs  []audit.Event
		why  string // non-empty: refused
	}
	var taken []batch
	err = queryAll(ctx, q, func(r Rows) error {
		b := batch{cols: make([][]*string, 12)}
		dest := []any{&b.id, &b.us}
		for j := range b.cols {
			dest = append(dest, &b.cols[j])
		}
		dest = append(dest, &b.mac)
		if err := r.Scan(dest...); err != nil {
			return err
		}
		taken = append(taken, b)
		return nil
	}, pendingTake, limit, maxRecords, upTo)
	if err != nil {
		return 0, false, nil, fmt.Errorf("take pending audit records: %w", err)
	}
	if len(taken) == 0 && len(evs) == 0 {
		return 0, false, nil, nil
	}
	// Only batches after the last one taken can remain: one with a lower id
	// that is not taken now committed after this transaction's snapshot,
	// so it was acknowledged after this call began (the next call's). The
	// lower bound keeps the index scan off the rows just deleted.
	var last int64
	for _, b := range taken {
		last = max(last, b.id)
	}
	for _, id := range refused {
		n, _ := strconv.ParseInt(id, 10, 64)
		last = max(last, n)
	}
	if err := queryOne(ctx, q, func(r Rows) error { return r.Scan(&more) },
		"SELECT EXISTS (SELECT 1 FROM audit_pending WHERE id > $1 AND id <= $2)", last, upTo); err != nil {
		return 0, false, nil, fmt.Errorf("look for more pending audit records: %w", err)
	}
	if err := s.checkHeadKey(ctx, q); err != nil {
		return 0, false, nil, err
	}
	slices.SortFunc(taken, func(a, b batch) int { return cmp.Compare(a.id, b.id) })
	for i := range taken {
		b := &taken[i]
		records += len(b.us)
		b.evs, b.why = pendingEvents(b.us, b.cols)
		switch {
		case b.why != "":
		case len(b.mac) == 0:
			b.why = "no MAC (written without the master key, or by a keyward from before the MAC)"
		case !s.key.ValidPending(b.evs, b.mac):
			b.why = "its MAC does not verify (written or altered without the master key)"
		}
		if b.why == "" {
			evs = append(evs, b.evs...)
			continue
		}
		if err := s.quarantine(ctx, q, b.id, now, b.why, b.us, b.cols, b.mac); err != nil {
			return 0, false, nil, err
		}
		account := ""
		if len(b.evs) > 0 {
			account = b.evs[0].Account
		}
		evs = append(evs, audit.Event{Time: now, Account: account, Event: PendingRejectedEvent, Outcome: audit.Failure, Actor: "keyward",
			Detail: fmt.Sprintf("pending audit batch %d (%d records) not chained: %s; kept in audit_quarantine", b.id, len(b.us), b.why)})
		refused = append(refused, strconv.FormatInt(b.id, 10))
	}
	if err := s.chainAudit(ctx, q, evs, fresh); err != nil {
		return 0, false, nil, err
	}
	return records, more, refused, nil
}

// LogRefusedPending logs the pending batches a linker refused; call it
// only once the transaction that quarantined them has committed (review
// r25b R5: a rolled-back link kept nothing).
func LogRefusedPending(refused []string) {
	if len(refused) > 0 {
		slog.Error("audit: pending batches refused (MAC missing or wrong, or malformed): kept in audit_quarantine, marked in the chain by "+PendingRejectedEvent,
			"batches", strings.Join(refused, ","))
	}
}

// pendingMalformedWhy is why a row pendingQuarantineMalformed moves was
// refused.
const pendingMalformedWhy = "malformed: more records than an appender writes, or columns of different lengths or dimensions (written without keyward)"

// pendingQuarantineMalformed moves, server-side, every pending row with
// id up to $1 that no appender writes (more than $2 records, columns of
// different lengths or not one-dimensional) to audit_quarantine, marked
// at $3 with why $4, and returns each one's id and size.
const pendingQuarantineMalformed = `WITH bad AS (
	DELETE FROM audit_pending WHERE id <= $1 AND NOT coalesce(
		cardinality(time_us) BETWEEN 1 AND $2
		AND array_ndims(time_us) = 1 AND array_ndims(account) = 1 AND array_ndims(event) = 1
		AND array_ndims(outcome) = 1 AND array_ndims(reason) = 1 AND array_ndims(actor) = 1
		AND array_ndims(subject) = 1 AND array_ndims(key_id) = 1 AND array_ndims(client_ip) = 1
		AND array_ndims(peer_ip) = 1 AND array_ndims(request_id) = 1 AND array_ndims(authenticator) = 1
		AND array_ndims(detail) = 1
		AND cardinality(account) = cardinality(time_us) AND cardinality(event) = cardinality(time_us)
		AND cardinality(outcome) = cardinality(time_us) AND cardinality(reason) = cardinality(time_us)
		AND cardinality(actor) = cardinality(time_us) AND cardinality(subject) = cardinality(time_us)
		AND cardinality(key_id) = cardinality(time_us) AND cardinality(client_ip) = cardinality(time_us)
		AND cardinality(peer_ip) = cardinality(time_us) AND cardinality(request_id) = cardinality(time_us)
		AND cardinality(authenticator) = cardinality(time_us) AND cardinality(detail) = cardinality(time_us), false)
	RETURNING *
), kept AS (
	INSERT INTO audit_quarantine (pending_id, quarantined_us, why, ` + pendingCols + `, mac)
	SELECT id, $3, $4, ` + pendingCols + `, mac FROM bad
)
SELECT id, cardinality(time_us) FROM bad ORDER BY id`

// pendingTake takes the oldest pending batches with ids up to $3: at most
// $1, and while they hold at most $2 records in all (the first whatever its
// size).
const pendingTake = `DELETE FROM audit_pending WHERE id IN (
	SELECT id FROM (
		SELECT id, row_number() OVER w AS n, sum(cardinality(time_us)) OVER w AS upto
		FROM (SELECT id, time_us FROM audit_pending WHERE id <= $3 ORDER BY id LIMIT $1) f
		WINDOW w AS (ORDER BY id)
	) t WHERE n = 1 OR upto <= $2)
RETURNING id, ` + pendingCols + `, mac`

// pendingEvents rebuilds a pending batch's events from its columns, or
// says why it cannot (columns of different lengths, NULL elements).
func pendingEvents(us []*int64, cols [][]*string) ([]audit.Event, string) {
	for j := range cols {
		if len(cols[j]) != len(us) {
			return nil, "its columns differ in length"
		}
	}
	evs := make([]audit.Event, len(us))
	for i := range us {
		var f [12]string
		for j := range cols {
			if cols[j][i] == nil {
				return nil, "it holds a NULL"
			}
			f[j] = *cols[j][i]
		}
		if us[i] == nil {
			return nil, "it holds a NULL"
		}
		evs[i] = audit.Event{Time: time.UnixMicro(*us[i]).UTC(), Account: f[0], Event: f[1], Outcome: f[2],
			Reason: f[3], Actor: f[4], Subject: f[5], KeyID: f[6], ClientIP: f[7],
			PeerIP: f[8], RequestID: f[9], Authenticator: f[10], Detail: f[11]}
	}
	return evs, ""
}

// quarantine keeps a refused pending batch as it was found.
func (s *Store) quarantine(ctx context.Context, q Querier, id int64, at time.Time, why string, us []*int64, cols [][]*string, mac []byte) error {
	args := []any{id, at.UnixMicro(), why, us}
	for _, c := range cols {
		args = append(args, c)
	}
	args = append(args, mac)
	_, err := q.Exec(ctx, "INSERT INTO audit_quarantine (pending_id, quarantined_us, why, "+pendingCols+", mac) VALUES "+
		"($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)", args...)
	if err != nil {
		return fmt.Errorf("quarantine pending audit batch %d: %w", id, err)
	}
	return nil
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
		if s.key.ValidCheckpoint(cp) {
			// The checkpoint's MAC verifies under this key, so the key is
			// the chain's: the last record was altered after it was
			// chained. Halting would leave every acknowledged record
			// pending for good and fail audit reads; linking goes on and
			// verify reports the break at that record.
			slog.Error("audit: the chain's last record does not verify (altered after it was chained); linking goes on, audit verify reports the break",
				"seq", last.Seq)
			return nil
		}
		return ErrWrongAuditKey
	}
	return nil
}
