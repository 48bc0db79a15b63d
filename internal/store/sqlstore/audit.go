package sqlstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/audit"
)

// auditCols are the audit_events columns, in insert and select order.
// keyed (0 or 1) says whether hash is the keyed MAC (audit.Record.Keyed).
const auditCols = "seq, time, time_us, account, event, outcome, reason, actor, subject, key_id, client_ip, peer_ip, request_id, authenticator, detail, prev_hash, hash, keyed"

const auditNCols = 18

// auditChunk is how many records one INSERT carries; 18 columns each stays
// well below SQLite's and PostgreSQL's parameter limits.
const auditChunk = 100

// insertSQL caches the multi-row INSERT for each row count, so a backend
// that caches prepared statements by text reuses them.
var insertSQL sync.Map // int -> string

func auditInsertSQL(n int) string {
	if q, ok := insertSQL.Load(n); ok {
		return q.(string)
	}
	var b strings.Builder
	b.WriteString("INSERT INTO audit_events (" + auditCols + ") VALUES ")
	p := 1
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for j := 0; j < auditNCols; j++ {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(p))
			p++
		}
		b.WriteByte(')')
	}
	q := b.String()
	insertSQL.Store(n, q)
	return q
}

// appendAudit writes evs with q in a write transaction: to audit_pending
// when the store links records apart (UsePendingAudit), else into the chain
// (q must then hold the audit lock).
func (s *Store) appendAudit(ctx context.Context, q Querier, evs []audit.Event) error {
	if len(evs) == 0 {
		return nil
	}
	if s.pending {
		return s.insertPending(ctx, q, evs)
	}
	return s.chainAudit(ctx, q, evs)
}

// chainAudit seals evs after the current head and writes them and the new
// head with q, which must be a transaction that holds the audit lock.
func (s *Store) chainAudit(ctx context.Context, q Querier, evs []audit.Event) error {
	if len(evs) == 0 {
		return nil
	}
	seq, prev, err := s.readHead(ctx, q, s.db.ForUpdate())
	if err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	recs := make([]audit.Record, len(evs))
	now := time.Now()
	for i, ev := range evs {
		if ev.Time.IsZero() {
			ev.Time = now
		}
		seq++
		recs[i] = s.key.Seal(seq, prev, ev)
		prev = recs[i].Hash
	}
	return InsertRecords(ctx, q, recs)
}

// AuditHead returns the sequence number and hash of the last record in the
// table (0 and audit.GenesisHash when there is none).
func (s *Store) AuditHead(ctx context.Context, q Querier) (int64, string, error) {
	return s.readHead(ctx, q, "")
}

func (s *Store) readHead(ctx context.Context, q Querier, suffix string) (int64, string, error) {
	var seq int64
	var hash string
	err := queryOne(ctx, q, func(r Rows) error { return r.Scan(&seq, &hash) },
		"SELECT seq, hash FROM audit_head WHERE id = 1"+suffix)
	if err != nil {
		return 0, "", fmt.Errorf("read audit head: %w", err)
	}
	return seq, hash, nil
}

// InsertRecords writes records already sealed after the current head, in
// order, and moves the head to the last of them. q must be a transaction
// that holds the audit lock.
func InsertRecords(ctx context.Context, q Querier, recs []audit.Record) error {
	if len(recs) == 0 {
		return nil
	}
	args := make([]any, 0, auditNCols*min(len(recs), auditChunk))
	for start := 0; start < len(recs); start += auditChunk {
		batch := recs[start:min(start+auditChunk, len(recs))]
		args = args[:0]
		for i := range batch {
			r := &batch[i]
			args = append(args, r.Seq, r.Time.Format(time.RFC3339Nano), r.Time.UnixMicro(),
				r.Account, r.Event.Event, r.Outcome, r.Reason, r.Actor, r.Subject, r.KeyID,
				r.ClientIP, r.PeerIP, r.RequestID, r.Authenticator, r.Detail, r.PrevHash, r.Hash, keyedInt(r.Keyed))
		}
		if _, err := q.Exec(ctx, auditInsertSQL(len(batch)), args...); err != nil {
			return fmt.Errorf("insert audit records: %w", err)
		}
	}
	last := recs[len(recs)-1]
	if _, err := q.Exec(ctx, "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", last.Seq, last.Hash); err != nil {
		return fmt.Errorf("move audit head: %w", err)
	}
	return nil
}

// write runs fn and appends evs in one write transaction: the single write
// path. When fn succeeds, what note names (see changed) is announced to the
// other instances in the same transaction (DB.Notify), so a change is
// announced if and only if it commits.
func (s *Store) write(ctx context.Context, iso Isolation, evs []audit.Event, note func() []string, fn func(Querier) error) error {
	return s.db.Write(ctx, TxOptions{Isolation: iso, LockAudit: len(evs) > 0 && !s.pending}, func(q Querier) error {
		if fn != nil {
			if err := fn(q); err != nil {
				return err
			}
		}
		if err := s.appendAudit(ctx, q, evs); err != nil {
			return err
		}
		if note == nil {
			return nil
		}
		if err := s.db.Notify(ctx, q, note()); err != nil {
			return fmt.Errorf("announce change: %w", err)
		}
		return nil
	})
}

// changed names the cached objects a write changes, as the payloads of its
// change notification: key:<account>:<id>, principal:<account>:<id>,
// grants:<account>:<principal id>, role:<account>:<id>, signing-keys,
// authenticator:<account>:<type>/<service id>, account:<name>.
func changed(payloads ...string) func() []string {
	return func() []string { return payloads }
}

// AppendAudit appends evs in one transaction, in order.
func (s *Store) AppendAudit(ctx context.Context, evs ...audit.Event) error {
	if len(evs) == 0 {
		return nil
	}
	if s.pending {
		if err := s.appendPending(ctx, evs); err != nil {
			return fmt.Errorf("append %d audit events: %w", len(evs), err)
		}
		return nil
	}
	if err := s.write(ctx, ReadCommitted, evs, nil, nil); err != nil {
		return fmt.Errorf("append %d audit events: %w", len(evs), err)
	}
	return nil
}

func keyedInt(keyed bool) int {
	if keyed {
		return 1
	}
	return 0
}

func scanRecord(r Rows, rec *audit.Record, timeText *string) error {
	var us, keyed int64
	if err := r.Scan(&rec.Seq, timeText, &us, &rec.Account, &rec.Event.Event, &rec.Outcome, &rec.Reason,
		&rec.Actor, &rec.Subject, &rec.KeyID, &rec.ClientIP, &rec.PeerIP, &rec.RequestID,
		&rec.Authenticator, &rec.Detail, &rec.PrevHash, &rec.Hash, &keyed); err != nil {
		return err
	}
	rec.Time = time.UnixMicro(us).UTC()
	rec.Keyed = keyed != 0
	return nil
}

// ListAudit returns one page of account's records ("" for every account),
// newest first, and how many there are.
func (s *Store) ListAudit(ctx context.Context, account string, limit, offset int) ([]audit.Record, int, error) {
	if limit <= 0 {
		limit = 100
	}
	offset = max(offset, 0)
	var recs []audit.Record
	var total int
	err := s.db.Read(ctx, func(q Querier) error {
		var err error
		var where string
		var args []any
		if account == "" {
			// The chain has no gaps, so the head's seq is the count.
			total, err = count(ctx, q, "SELECT seq FROM audit_head WHERE id = 1")
		} else {
			where, args = " WHERE account = $1", []any{account}
			total, err = count(ctx, q, "SELECT count(*) FROM audit_events"+where, args...)
		}
		if err != nil {
			return err
		}
		n := len(args)
		recs = recs[:0]
		var tt string
		return queryAll(ctx, q, func(r Rows) error {
			var rec audit.Record
			if err := scanRecord(r, &rec, &tt); err != nil {
				return err
			}
			recs = append(recs, rec)
			return nil
		}, "SELECT "+auditCols+" FROM audit_events"+where+" ORDER BY seq DESC LIMIT $"+strconv.Itoa(n+1)+" OFFSET $"+strconv.Itoa(n+2),
			append(args, limit, offset)...)
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list audit of %q: %w", account, err)
	}
	return recs, total, nil
}

// VerifyAudit streams the whole chain, in seq order, through an
// audit.Verifier under the store's key and checks it against the head.
func (s *Store) VerifyAudit(ctx context.Context) (audit.Check, error) {
	var c audit.Check
	err := s.db.Read(ctx, func(q Querier) error {
		var err error
		c, err = s.checkAudit(ctx, q)
		return err
	})
	if err != nil {
		return audit.Check{}, fmt.Errorf("verify audit: %w", err)
	}
	return c, nil
}

// checkAudit walks the chain with q.
func (s *Store) checkAudit(ctx context.Context, q Querier) (audit.Check, error) {
	headSeq, headHash, err := s.readHead(ctx, q, "")
	if err != nil {
		return audit.Check{}, err
	}
	v := audit.NewVerifier(s.key)
	rows, err := q.Query(ctx, "SELECT "+auditCols+" FROM audit_events ORDER BY seq")
	if err != nil {
		return audit.Check{}, err
	}
	defer rows.Close()
	var rec audit.Record
	var tt string
	for rows.Next() {
		if err := scanRecord(rows, &rec, &tt); err != nil {
			return audit.Check{}, err
		}
		if !v.Next(&rec) {
			break
		}
		// The hash covers time_us; the text column is for people and must agree.
		if t, err := time.Parse(time.RFC3339Nano, tt); err != nil || !t.Equal(rec.Time) {
			return audit.Check{Records: rec.Seq - 1, Broken: rec.Seq, Why: "its time and time_us columns disagree"}, nil
		}
	}
	if err := rows.Err(); err != nil {
		return audit.Check{}, err
	}
	return v.Finish(headSeq, headHash), nil
}

// rekeyChunk is how many records RekeyAudit holds at a time.
const rekeyChunk = 5000

// RekeyAudit chains every record again under the store's key, then appends
// ev (its Detail says what was done) after them, in one transaction. It
// walks the chain a chunk at a time (a statement must not update the table
// a query still reads), verifying as it goes; a break rolls it all back.
func (s *Store) RekeyAudit(ctx context.Context, ev audit.Event) (audit.Check, error) {
	var c audit.Check
	err := s.db.Write(ctx, TxOptions{Isolation: ReadCommitted, LockAudit: true}, func(q Querier) error {
		headSeq, headHash, err := s.readHead(ctx, q, s.db.ForUpdate())
		if err != nil {
			return err
		}
		v := audit.NewVerifier(s.key)
		recs := make([]audit.Record, 0, rekeyChunk)
		prev := audit.GenesisHash
		for from := int64(1); ; from += rekeyChunk {
			recs = recs[:0]
			var tt string
			err := queryAll(ctx, q, func(r Rows) error {
				var rec audit.Record
				if err := scanRecord(r, &rec, &tt); err != nil {
					return err
				}
				if t, err := time.Parse(time.RFC3339Nano, tt); err != nil || !t.Equal(rec.Time) {
					return fmt.Errorf("the chain is broken at record %d (its time and time_us columns disagree): nothing was changed", rec.Seq)
				}
				recs = append(recs, rec)
				return nil
			}, "SELECT "+auditCols+" FROM audit_events WHERE seq >= $1 AND seq < $2 ORDER BY seq", from, from+rekeyChunk)
			if err != nil {
				return err
			}
			for i := range recs {
				r := &recs[i]
				if !v.Next(r) {
					break
				}
				r.PrevHash, r.Hash = prev, s.key.Chain(r.Seq, prev, &r.Event)
				prev = r.Hash
				if _, err := q.Exec(ctx, "UPDATE audit_events SET prev_hash = $1, hash = $2, keyed = 1 WHERE seq = $3", r.PrevHash, r.Hash, r.Seq); err != nil {
					return fmt.Errorf("rechain record %d: %w", r.Seq, err)
				}
			}
			if len(recs) < rekeyChunk {
				break
			}
		}
		if c = v.Finish(headSeq, headHash); c.Broken != 0 {
			return fmt.Errorf("the chain is broken at record %d (%s): chaining it again would hide that, so nothing was changed", c.Broken, c.Why)
		}
		if _, err := q.Exec(ctx, "UPDATE audit_head SET hash = $1 WHERE id = 1", prev); err != nil {
			return fmt.Errorf("move audit head: %w", err)
		}
		ev.Detail = fmt.Sprintf("chained records 1-%d again under the audit key; %d of them were unkeyed", c.Records, c.Unkeyed)
		return s.chainAudit(ctx, q, []audit.Event{ev})
	})
	if err != nil {
		return audit.Check{}, fmt.Errorf("rekey audit: %w", err)
	}
	return c, nil
}
