package sqlstore

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/store"
)

// An audit record is kept compact (migration 0006): the names that repeat
// from record to record are ids into audit_names (NULL for the empty name),
// the time is kept once (time_us, what the MAC covers), the hash is 32 bytes
// of binary, the previous record's hash is not kept again (it is record
// seq-1's, or the checkpoint's), peer_ip is NULL when it is the client_ip,
// and detail NULL when there is none. What each record's MAC covers is
// unchanged (audit.Key.Chain), so chains written before verify as they did.

// auditCols are the audit_events columns, in insert order. keyed (0 or 1)
// says whether hash is the keyed MAC (audit.Record.Keyed).
const auditCols = "seq, time_us, account, event, outcome, reason, actor, subject, authenticator, key_id, client_ip, peer_ip, request_id, detail, hash, keyed"

const auditNCols = 16

// auditNameCols are the columns that hold audit_names ids, in order.
var auditNameCols = [...]string{"account", "event", "outcome", "reason", "actor", "subject", "authenticator"}

// auditSelect reads records with their names: scanRecord scans its columns.
var auditSelect = func() string {
	var b strings.Builder
	b.WriteString("SELECT e.seq, e.time_us")
	for i := range auditNameCols {
		fmt.Fprintf(&b, ", COALESCE(n%d.name, '')", i)
	}
	b.WriteString(", e.key_id, e.client_ip, COALESCE(e.peer_ip, e.client_ip), e.request_id, COALESCE(e.detail, ''), e.hash, e.keyed")
	b.WriteString(" FROM audit_events e")
	for i, c := range auditNameCols {
		fmt.Fprintf(&b, " LEFT JOIN audit_names n%d ON n%d.id = e.%s", i, i, c)
	}
	return b.String()
}()

// auditSelectPrev is auditSelect with the previous record's hash last
// (NULL for the first record after the checkpoint).
var auditSelectPrev = strings.Replace(auditSelect, " FROM audit_events e", ", p.hash FROM audit_events e", 1) +
	" LEFT JOIN audit_events p ON p.seq = e.seq - 1"

// scanRecord scans a row of auditSelect (and extra, the columns after it).
func scanRecord(r Rows, rec *audit.Record, extra ...any) error {
	var us, keyed int64
	var hash []byte
	dst := append([]any{&rec.Seq, &us, &rec.Account, &rec.Event.Event, &rec.Outcome, &rec.Reason, &rec.Actor, &rec.Subject,
		&rec.Authenticator, &rec.KeyID, &rec.ClientIP, &rec.PeerIP, &rec.RequestID, &rec.Detail, &hash, &keyed}, extra...)
	if err := r.Scan(dst...); err != nil {
		return err
	}
	rec.Time = time.UnixMicro(us).UTC()
	rec.Hash = hex.EncodeToString(hash)
	rec.Keyed = keyed != 0
	return nil
}

// Names are the audit_names ids a write transaction resolved. They become
// known to the store (Remember) only once the transaction has committed: an
// id inserted by a transaction that rolled back may name something else
// later.
type Names map[string]int64

// nameCache holds committed audit_names ids, so that the usual append
// resolves every name without a query.
type nameCache struct {
	mu  sync.RWMutex
	ids map[string]int64
}

// nameCacheMax bounds the cache (failed logins may name anything); when
// full it starts over.
const nameCacheMax = 1 << 16

func (c *nameCache) get(name string) (int64, bool) {
	c.mu.RLock()
	id, ok := c.ids[name]
	c.mu.RUnlock()
	return id, ok
}

// Keys of Names that are not names (no name holds a NUL byte: audit.clean
// replaces it): the head a transaction wrote, and the head it found moved
// back (audit.head_rollback).
const (
	headKey     = "\x00head"
	rollbackKey = "\x00rollback"
)

// Remember makes the names of a committed transaction known, and the
// chain head it wrote.
func (s *Store) Remember(fresh Names) {
	if len(fresh) == 0 {
		return
	}
	if head, ok := fresh[headKey]; ok {
		delete(fresh, headKey)
		if from, ok := fresh[rollbackKey]; ok {
			delete(fresh, rollbackKey)
			slog.Error("audit: the chain head went back under this keyward (records removed, or the database restored): recorded as audit.head_rollback",
				"from", from, "to", head)
			s.head.Store(head)
		}
		for {
			cur := s.head.Load()
			if head <= cur || s.head.CompareAndSwap(cur, head) {
				break
			}
		}
	}
	c := &s.names
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ids == nil || len(c.ids)+len(fresh) > nameCacheMax {
		c.ids = make(map[string]int64, len(fresh))
	}
	for n, id := range fresh {
		c.ids[n] = id
	}
}

// nameID returns the id of name in audit_names, adding it with q if it is
// new (the id then goes to fresh); nil for the empty name.
func (s *Store) nameID(ctx context.Context, q Querier, name string, fresh Names) (any, error) {
	if name == "" {
		return nil, nil
	}
	if id, ok := fresh[name]; ok {
		return id, nil
	}
	if id, ok := s.names.get(name); ok {
		return id, nil
	}
	var id int64
	scan := func(r Rows) error { return r.Scan(&id) }
	err := queryOne(ctx, q, scan, "SELECT id FROM audit_names WHERE name = $1", name)
	if err == errNoRows {
		if _, err := q.Exec(ctx, "INSERT INTO audit_names (name) VALUES ($1) ON CONFLICT (name) DO NOTHING", name); err != nil {
			return nil, fmt.Errorf("add audit name: %w", err)
		}
		err = queryOne(ctx, q, scan, "SELECT id FROM audit_names WHERE name = $1", name)
	}
	if err != nil {
		return nil, fmt.Errorf("audit name: %w", err)
	}
	fresh[name] = id
	return id, nil
}

// appendAudit writes evs with q in a write transaction: to audit_pending
// when the store links records apart (UsePendingAudit), else into the chain
// (q must then hold the audit lock; new names go to fresh).
func (s *Store) appendAudit(ctx context.Context, q Querier, evs []audit.Event, fresh Names) error {
	if len(evs) == 0 {
		return nil
	}
	if s.pending {
		return s.insertPending(ctx, q, evs)
	}
	return s.chainAudit(ctx, q, evs, fresh)
}

// chainAudit seals evs after the current head and writes them and the new
// head with q, which must be a transaction that holds the audit lock.
func (s *Store) chainAudit(ctx context.Context, q Querier, evs []audit.Event, fresh Names) error {
	if len(evs) == 0 {
		return nil
	}
	seq, prev, err := s.readHead(ctx, q, s.db.ForUpdate())
	if err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	if seen := s.head.Load(); seq < seen {
		// Someone with the database moved the head back (removed the
		// newest records) under this process: say so in the chain, after
		// what is appended now, so the newest record tells.
		evs = append(evs[:len(evs):len(evs)], audit.Event{Time: time.Now(), Account: evs[0].Account, Event: HeadRollbackEvent,
			Outcome: audit.Failure, Actor: "keyward", RequestID: evs[0].RequestID,
			Detail: fmt.Sprintf("the chain head went back from seq %d to %d under this keyward: records %d-%d were removed, or the database was restored; sequence numbers %d-%d are used again",
				seen, seq, seq+1, seen, seq+1, seen)})
		fresh[rollbackKey] = seen
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
	fresh[headKey] = seq
	return s.InsertRecords(ctx, q, recs, fresh)
}

// HeadRollbackEvent is the event of the record a store appends when it
// finds the chain head below one it committed itself.
const HeadRollbackEvent = "audit.head_rollback"

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

// AuditCheckpoint returns the checkpoint pruning left (the signed genesis when
// nothing was pruned).
func (s *Store) AuditCheckpoint(ctx context.Context, q Querier) (audit.Checkpoint, error) {
	var cp audit.Checkpoint
	var keyed int64
	err := queryOne(ctx, q, func(r Rows) error { return r.Scan(&cp.Seq, &cp.Hash, &keyed, &cp.MAC) },
		"SELECT seq, hash, keyed, mac FROM audit_checkpoint WHERE id = 1")
	if err != nil {
		return cp, fmt.Errorf("read audit checkpoint: %w", err)
	}
	cp.Keyed = keyed != 0
	return cp, nil
}

// write runs fn and appends evs in one write transaction: the single write
// path. When fn succeeds, what note names (see changed) is announced to the
// other instances in the same transaction (DB.Notify), so a change is
// announced if and only if it commits.
func (s *Store) write(ctx context.Context, iso Isolation, evs []audit.Event, note func() []string, fn func(Querier) error) error {
	var fresh Names
	err := s.db.Write(ctx, TxOptions{Isolation: iso, LockAudit: len(evs) > 0 && !s.pending}, func(q Querier) error {
		fresh = Names{} // a backend may run fn again
		if fn != nil {
			if err := fn(q); err != nil {
				return err
			}
		}
		if err := s.appendAudit(ctx, q, evs, fresh); err != nil {
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
	if err == nil {
		s.Remember(fresh)
	}
	return err
}

// changed names the cached objects a write changes, as the payloads of its
// change notification: key:<account>:<id>, principal:<account>:<id>,
// grants:<account>:<principal id>, role:<account>:<id>, signing-keys,
// authenticator:<account>:<type>/<service id>, account:<name>.
func changed(payloads ...string) func() []string {
	return func() []string { return payloads }
}

// uncached is the note of a write whose objects no instance caches (API
// registrations, surface sessions, signature keys and idempotency records
// are read from the store on every use): nothing to announce.
var uncached func() []string

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

// ListAudit returns one page of account's records ("" for every account),
// newest first, and how many there are.
func (s *Store) ListAudit(ctx context.Context, account string, limit, offset int) ([]audit.Record, int, error) {
	return s.ListAuditFiltered(ctx, account, audit.Filter{}, limit, offset)
}

// auditWhere is the WHERE clause (with its arguments) of account's records
// ("" for every account) that f matches.
func auditWhere(account string, f audit.Filter) (string, []any) {
	var conds []string
	var args []any
	name := func(col, v string) {
		args = append(args, v)
		conds = append(conds, "e."+col+" = (SELECT id FROM audit_names WHERE name = $"+strconv.Itoa(len(args))+")")
	}
	if account != "" {
		name("account", account)
	}
	if f.Event != "" {
		name("event", f.Event)
	}
	if f.Outcome != "" {
		name("outcome", f.Outcome)
	}
	if f.Actor != "" {
		name("actor", f.Actor)
	}
	if f.KeyID != "" {
		args = append(args, f.KeyID)
		conds = append(conds, "e.key_id = $"+strconv.Itoa(len(args)))
	}
	if f.ClientIP != "" {
		args = append(args, f.ClientIP)
		conds = append(conds, "e.client_ip = $"+strconv.Itoa(len(args)))
	}
	if !f.Since.IsZero() {
		args = append(args, f.Since.UnixMicro())
		conds = append(conds, "e.time_us >= $"+strconv.Itoa(len(args)))
	}
	if !f.Until.IsZero() {
		args = append(args, f.Until.UnixMicro())
		conds = append(conds, "e.time_us < $"+strconv.Itoa(len(args)))
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// ListAuditFiltered returns one page of account's records ("" for every
// account) that f matches, newest first, and how many match.
func (s *Store) ListAuditFiltered(ctx context.Context, account string, f audit.Filter, limit, offset int) ([]audit.Record, int, error) {
	if limit <= 0 {
		limit = 100
	}
	offset = max(offset, 0)
	var recs []audit.Record
	var total int
	err := s.db.Read(ctx, func(q Querier) error {
		cp, err := s.AuditCheckpoint(ctx, q)
		if err != nil {
			return err
		}
		where, args := auditWhere(account, f)
		if where == "" {
			// The chain has no gaps, so the head's seq less the
			// checkpoint's is the count.
			total, err = count(ctx, q, "SELECT seq - $1 FROM audit_head WHERE id = 1", cp.Seq)
		} else {
			total, err = count(ctx, q, "SELECT count(*) FROM audit_events e"+where, args...)
		}
		if err != nil {
			return err
		}
		n := len(args)
		recs = recs[:0]
		return queryAll(ctx, q, func(r Rows) error {
			var rec audit.Record
			var prev []byte
			if err := scanRecord(r, &rec, &prev); err != nil {
				return err
			}
			rec.PrevHash = prevHash(rec.Seq, prev, cp)
			recs = append(recs, rec)
			return nil
		}, auditSelectPrev+where+" ORDER BY e.seq DESC LIMIT $"+strconv.Itoa(n+1)+" OFFSET $"+strconv.Itoa(n+2),
			append(args, limit, offset)...)
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list audit of %q: %w", account, err)
	}
	return recs, total, nil
}

// prevHash is the previous-hash link of record seq: the hash of record
// seq-1 when the table has it, else the checkpoint's when seq follows it.
func prevHash(seq int64, prev []byte, cp audit.Checkpoint) string {
	switch {
	case prev != nil:
		return hex.EncodeToString(prev)
	case seq == cp.Seq+1:
		return cp.Hash
	}
	return ""
}

// AuditSince returns up to limit records from seq from on, oldest first.
func (s *Store) AuditSince(ctx context.Context, from int64, limit int) ([]audit.Record, error) {
	if limit <= 0 {
		limit = 1000
	}
	var recs []audit.Record
	err := s.db.Read(ctx, func(q Querier) error {
		cp, err := s.AuditCheckpoint(ctx, q)
		if err != nil {
			return err
		}
		return queryAll(ctx, q, func(r Rows) error {
			var rec audit.Record
			var prev []byte
			if err := scanRecord(r, &rec, &prev); err != nil {
				return err
			}
			rec.PrevHash = prevHash(rec.Seq, prev, cp)
			recs = append(recs, rec)
			return nil
		}, auditSelectPrev+" WHERE e.seq >= $1 ORDER BY e.seq LIMIT $2", from, limit)
	})
	if err != nil {
		return nil, fmt.Errorf("read audit from %d: %w", from, err)
	}
	return recs, nil
}

// VerifyAudit streams the chain after the checkpoint, in seq order, through
// an audit.Verifier under the store's key and checks it against the head.
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

// checkpointBroken is the check of a chain whose checkpoint is not one the
// key made.
func checkpointBroken(cp audit.Checkpoint) audit.Check {
	return audit.Check{From: cp.Seq, Broken: cp.Seq + 1,
		Why: "the pruning checkpoint (seq " + strconv.FormatInt(cp.Seq, 10) + ") does not match its MAC: moved or forged, or the master key is not the one the chain was written with"}
}

// checkAudit walks the chain with q.
func (s *Store) checkAudit(ctx context.Context, q Querier) (audit.Check, error) {
	headSeq, headHash, err := s.readHead(ctx, q, "")
	if err != nil {
		return audit.Check{}, err
	}
	cp, err := s.AuditCheckpoint(ctx, q)
	if err != nil {
		return audit.Check{}, err
	}
	if !s.key.ValidCheckpoint(cp) {
		return checkpointBroken(cp), nil
	}
	v := audit.NewVerifierFrom(s.key, cp)
	rows, err := q.Query(ctx, auditSelect+" WHERE e.seq > $1 ORDER BY e.seq", cp.Seq)
	if err != nil {
		return audit.Check{}, err
	}
	defer rows.Close()
	var rec audit.Record
	var rejected int64
	for rows.Next() {
		if err := scanRecord(rows, &rec); err != nil {
			return audit.Check{}, err
		}
		rec.PrevHash = v.Prev()
		if !v.Next(&rec) {
			break
		}
		if rec.Keyed && rec.Event.Event == PendingRejectedEvent {
			rejected++
		}
	}
	if err := rows.Err(); err != nil {
		return audit.Check{}, err
	}
	c := v.Finish(headSeq, headHash)
	c.Rejected = rejected
	return c, nil
}

// rekeyChunk is how many records RekeyAudit holds at a time.
const rekeyChunk = 5000

// RekeyAudit chains every record after the checkpoint again under the
// store's key, then appends ev (its Detail says what was done) after them,
// in one transaction. It walks the chain a chunk at a time (a statement
// must not update the table a query still reads), verifying as it goes; a
// break rolls it all back.
func (s *Store) RekeyAudit(ctx context.Context, ev audit.Event) (audit.Check, error) {
	var c audit.Check
	var fresh Names
	err := s.db.Write(ctx, TxOptions{Isolation: ReadCommitted, LockAudit: true}, func(q Querier) error {
		fresh = Names{}
		headSeq, headHash, err := s.readHead(ctx, q, s.db.ForUpdate())
		if err != nil {
			return err
		}
		cp, err := s.AuditCheckpoint(ctx, q)
		if err != nil {
			return err
		}
		if !s.key.ValidCheckpoint(cp) {
			c = checkpointBroken(cp)
			return fmt.Errorf("the chain is broken at record %d (%s): nothing was changed", c.Broken, c.Why)
		}
		v := audit.NewVerifierFrom(s.key, cp)
		recs := make([]audit.Record, 0, rekeyChunk)
		prev := cp.Hash
		for from := cp.Seq + 1; ; from += rekeyChunk {
			recs = recs[:0]
			err := queryAll(ctx, q, func(r Rows) error {
				var rec audit.Record
				if err := scanRecord(r, &rec); err != nil {
					return err
				}
				recs = append(recs, rec)
				return nil
			}, auditSelect+" WHERE e.seq >= $1 AND e.seq < $2 ORDER BY e.seq", from, from+rekeyChunk)
			if err != nil {
				return err
			}
			for i := range recs {
				r := &recs[i]
				r.PrevHash = v.Prev()
				if !v.Next(r) {
					break
				}
				r.PrevHash, r.Hash = prev, s.key.Chain(r.Seq, prev, &r.Event)
				prev = r.Hash
				hash, _ := hex.DecodeString(r.Hash)
				if _, err := q.Exec(ctx, "UPDATE audit_events SET hash = $1, keyed = 1 WHERE seq = $2", hash, r.Seq); err != nil {
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
		ev.Detail = fmt.Sprintf("chained records %d-%d again under the audit key; %d of them were unkeyed", cp.Seq+1, cp.Seq+c.Records, c.Unkeyed)
		return s.chainAudit(ctx, q, []audit.Event{ev}, fresh)
	})
	if err != nil {
		return audit.Check{}, fmt.Errorf("rekey audit: %w", err)
	}
	s.Remember(fresh)
	return c, nil
}

// pruneChunk is how many records one transaction of PruneAudit removes at
// most, so that appends (which wait for it) are held up briefly.
const pruneChunk = 50000

// PruneAudit removes the oldest records, those before before, a
// transaction of at most pruneChunk records at a time, and moves the
// checkpoint after each. Only a prefix of the chain goes: it stops at the
// first record at or after before, even if later ones are older. Each
// removed record is verified first: a broken chain is refused, since
// removing the evidence would hide it, and so is an unkeyed record (anyone
// can write one: removing it under a keyed checkpoint would launder a
// forgery). Every transaction appends ev, with what it removed as its
// Detail and the checkpoint it left as its Subject (audit.CheckpointSubject),
// so the checkpoint is vouched for even when a later transaction fails;
// nothing to remove appends nothing.
func (s *Store) PruneAudit(ctx context.Context, before time.Time, ev audit.Event) (store.AuditPrune, error) {
	var p store.AuditPrune
	for {
		var fresh Names
		done := false
		q := p
		err := s.db.Write(ctx, TxOptions{Isolation: ReadCommitted, LockAudit: true}, func(tx Querier) error {
			fresh, q = Names{}, p // a backend may run fn again
			var err error
			done, err = s.pruneChunk(ctx, tx, before, ev, &q, fresh)
			return err
		})
		if err != nil {
			if p.To != 0 {
				return p, fmt.Errorf("prune audit: records %d-%d were removed (recorded as audit.prune), then: %w", p.From, p.To, err)
			}
			return p, fmt.Errorf("prune audit: %w", err)
		}
		p = q
		s.Remember(fresh)
		if done {
			return p, nil
		}
	}
}

// pruneRecord reports whether the chain after cp holds the keyed
// audit.prune record that vouches for cp, valid under the key.
func (s *Store) pruneRecord(ctx context.Context, q Querier, cp audit.Checkpoint) (bool, error) {
	if cp.Seq == 0 {
		return true, nil
	}
	var rec audit.Record
	var prev []byte
	err := queryOne(ctx, q, func(r Rows) error { return scanRecord(r, &rec, &prev) },
		auditSelectPrev+" WHERE e.seq > $1 AND e.keyed = 1 AND e.event = (SELECT id FROM audit_names WHERE name = $2)"+
			" AND e.subject = (SELECT id FROM audit_names WHERE name = $3) ORDER BY e.seq LIMIT 1",
		cp.Seq, audit.PruneEvent, audit.CheckpointSubject(cp))
	if err == errNoRows {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	rec.PrevHash = prevHash(rec.Seq, prev, cp)
	return audit.Vouches(&rec, cp) && s.key.Valid(&rec), nil
}

// pruneChunk is one transaction of PruneAudit; it reports whether it was
// the last.
func (s *Store) pruneChunk(ctx context.Context, q Querier, before time.Time, ev audit.Event, p *store.AuditPrune, fresh Names) (bool, error) {
	head, _, err := s.readHead(ctx, q, s.db.ForUpdate())
	if err != nil {
		return false, err
	}
	cp, err := s.AuditCheckpoint(ctx, q)
	if err != nil {
		return false, err
	}
	if !s.key.ValidCheckpoint(cp) {
		c := checkpointBroken(cp)
		return false, fmt.Errorf("the chain is broken at record %d (%s): nothing was removed", c.Broken, c.Why)
	}
	stop := head
	err = queryOne(ctx, q, func(r Rows) error { return r.Scan(&stop) },
		"SELECT seq - 1 FROM audit_events WHERE seq > $1 AND time_us >= $2 ORDER BY seq LIMIT 1", cp.Seq, before.UnixMicro())
	if err != nil && err != errNoRows {
		return false, err
	}
	to := min(stop, cp.Seq+pruneChunk)
	if to <= cp.Seq {
		return true, nil
	}
	v := audit.NewVerifierFrom(s.key, cp)
	vouched, err := s.pruneRecord(ctx, q, cp)
	if err != nil {
		return false, err
	}
	if vouched {
		v.Vouch()
	}
	var last audit.Record
	err = queryAll(ctx, q, func(r Rows) error {
		if err := scanRecord(r, &last); err != nil {
			return err
		}
		last.PrevHash = v.Prev()
		v.Next(&last)
		return nil
	}, auditSelect+" WHERE e.seq > $1 AND e.seq <= $2 ORDER BY e.seq", cp.Seq, to)
	if err != nil {
		return false, err
	}
	c := v.Finish(to, last.Hash)
	if c.Broken != 0 {
		return false, fmt.Errorf("the chain is broken at record %d (%s): removing it would hide that, so it was kept", c.Broken, c.Why)
	}
	if c.Unkeyed != 0 {
		return false, fmt.Errorf("records %d-%d are unkeyed (anyone can write such records, so removing them could hide a forgery): "+
			"nothing was removed; check them with `keyward audit verify` and the previous backups first", cp.Seq+1, cp.Seq+c.Unkeyed)
	}
	next := s.key.Checkpoint(&last)
	if _, err := q.Exec(ctx, "DELETE FROM audit_events WHERE seq <= $1", to); err != nil {
		return false, fmt.Errorf("remove records: %w", err)
	}
	if _, err := q.Exec(ctx, "UPDATE audit_checkpoint SET seq = $1, hash = $2, keyed = $3, mac = $4 WHERE id = 1",
		next.Seq, next.Hash, keyedInt(next.Keyed), next.MAC); err != nil {
		return false, fmt.Errorf("move the checkpoint: %w", err)
	}
	if p.To == 0 {
		p.From = cp.Seq + 1
	}
	p.To, p.Checkpoint = to, next
	ev.Event, ev.Subject = audit.PruneEvent, audit.CheckpointSubject(next)
	ev.Detail = fmt.Sprintf("removed records %d-%d (before %s); checkpoint seq %d hash %s",
		cp.Seq+1, to, before.UTC().Format(time.RFC3339), next.Seq, next.Hash)
	return to >= stop, s.appendAudit(ctx, q, []audit.Event{ev}, fresh)
}
