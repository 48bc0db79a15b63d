package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/store/sqlstore"
)

// The audit journal is the SQLite store's write-ahead file for the records
// the core appends on its own (authentications, verifications, secret reads,
// denials). An append seals its records after the chain's head, writes them
// to the journal with one write(2) and returns: like an SQLite commit in WAL
// mode with synchronous=NORMAL, the records are then in the operating
// system's hands and survive the process being killed. The ingester moves
// them into audit_events in large transactions a few milliseconds later, so
// the per-commit cost of SQLite is paid once per few hundred records instead
// of once per group commit, and off the path of the request that waits.
//
// Every reader of the audit (ListAudit, VerifyAudit) and every write
// transaction that carries its own records first brings the journal into the
// table, so the table is always the whole chain when anyone looks, and
// records keep one order. Open replays what a stopped process left behind,
// refusing a journal that does not continue the chain.
//
// Two files take turns: appends go to one while the records of the other are
// being ingested; a file is emptied once every record in it is in the table.
// An exclusive lock on the first file keeps a second process from appending
// to the same chain.

// ErrInUse is returned by Open when another process has the database open.
var ErrInUse = errors.New("the database is in use by another keyward process")

// journalFiles are the journal's file names, appended to the database path.
var journalFiles = [2]string{"-audit1", "-audit2"}

// journalMaxPending bounds the records waiting for the table: beyond it
// appends fail (and so do the requests they audit) until ingests succeed.
const journalMaxPending = 1 << 16

// ingestEvery is how often the ingester moves the journal into the table;
// ingestSoon wakes it early.
const (
	ingestEvery = 25 * time.Millisecond
	ingestSoon  = 8192
)

const keptForInspection = "the journal files are kept for inspection; keyward does not start over a journal that breaks the audit chain"

// journalVersion starts every journal line: a2 for a keyed record.
// journalUnkeyed starts the lines of unkeyed records that a keyward from
// before keyed chaining may have left; they are replayed only onto a chain
// that holds no keyed record yet.
const (
	journalVersion = "a2"
	journalUnkeyed = "a1"
)

type journal struct {
	key     *audit.Key
	mu      sync.Mutex
	files   [2]*os.File
	sizes   [2]int64
	last    [2]int64 // the highest sequence number written to each file
	cur     int      // the file appends go to
	seq     int64    // the chain's head, counting the journal
	hash    string
	pending []audit.Record // written to a file, not yet in the table
	taken   int            // records an ingest has taken and not yet reported on
	spare   []audit.Record
	buf     []byte
	// failed is the last ingest's error, nil once one succeeds; atomic so
	// that Ping need not wait for a write transaction holding mu.
	failed atomic.Pointer[error]
	broken error // a file could not be cut back after a failed write
	closed bool
	wake   chan struct{}

	// failures counts failed ingests, for metrics.
	failures atomic.Int64
}

// openJournal opens (creating) the journal files of the database at path
// and locks them for this process.
func openJournal(path string, key *audit.Key) (*journal, error) {
	j := &journal{key: key, wake: make(chan struct{}, 1)}
	for i, suffix := range journalFiles {
		f, err := os.OpenFile(path+suffix, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			j.close()
			return nil, fmt.Errorf("audit journal: %w", err)
		}
		j.files[i] = f
		if i == 0 {
			if err := lockFile(f); err != nil {
				j.close()
				return nil, err
			}
		}
	}
	return j, nil
}

func (j *journal) close() error {
	var errs []error
	for i, f := range j.files {
		if f != nil {
			errs = append(errs, f.Close())
			j.files[i] = nil
		}
	}
	return errors.Join(errs...)
}

// load reads every whole record in both files, ordered by sequence number.
// A last line without its newline is a write the process did not finish,
// so nobody was told it succeeded: it is left out.
func (j *journal) load() ([]audit.Record, error) {
	var recs []audit.Record
	for i, f := range j.files {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("audit journal: %w", err)
		}
		r := bufio.NewReader(f)
		for n := 1; ; n++ {
			line, err := r.ReadBytes('\n')
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("audit journal: read %s: %w", f.Name(), err)
			}
			rec, err := parseLine(line[:len(line)-1])
			if err != nil {
				return nil, fmt.Errorf("audit journal %s line %d: %w", f.Name(), n, err)
			}
			recs = append(recs, rec)
		}
		size, err := f.Seek(0, io.SeekEnd)
		if err != nil {
			return nil, fmt.Errorf("audit journal: %w", err)
		}
		j.sizes[i] = size
	}
	slices.SortStableFunc(recs, func(a, b audit.Record) int { return int(a.Seq - b.Seq) })
	return recs, nil
}

// replayTail returns the records of recs (ordered by seq) after the head
// seq/hash, checked under key to continue the chain from it. Each record at
// or below the head must be the table's record of that number (inTable
// gives its hash), and no number may appear twice. keyed says whether the
// chain up to the head holds a keyed record: then an unkeyed one may not
// follow, for anyone can make one.
func replayTail(key *audit.Key, recs []audit.Record, seq int64, hash string, keyed bool, inTable map[int64]string) ([]audit.Record, error) {
	var tail []audit.Record
	for i := range recs {
		r := &recs[i]
		if i > 0 && recs[i-1].Seq == r.Seq {
			return nil, fmt.Errorf("record %d appears twice", r.Seq)
		}
		if r.Seq <= seq {
			if inTable[r.Seq] != r.Hash || !key.Valid(r) {
				return nil, fmt.Errorf("record %d differs from the table's record %d", r.Seq, r.Seq)
			}
			continue // already in the table
		}
		switch {
		case r.Seq != seq+1:
			return nil, fmt.Errorf("record %d is missing before record %d", seq+1, r.Seq)
		case r.PrevHash != hash:
			return nil, fmt.Errorf("record %d does not link to record %d", r.Seq, seq)
		case !r.Keyed && keyed:
			return nil, fmt.Errorf("record %d is unkeyed but the chain is keyed", r.Seq)
		case !key.Valid(r) && r.Keyed:
			return nil, fmt.Errorf("record %d does not match its MAC: forged, or the master key is not the one it was written with", r.Seq)
		case !key.Valid(r):
			return nil, fmt.Errorf("record %d does not match its hash", r.Seq)
		}
		tail = append(tail, *r)
		seq, hash, keyed = r.Seq, r.Hash, keyed || r.Keyed
	}
	return tail, nil
}

// append seals evs after the head and writes them to the journal.
func (j *journal) append(evs []audit.Event) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	switch {
	case j.closed:
		return errors.New("audit journal: closed")
	case j.repair() != nil:
		return fmt.Errorf("audit journal: %w", j.broken)
	case j.taken+len(j.pending)+len(evs) > journalMaxPending:
		return fmt.Errorf("audit journal: %d records are waiting for the database: %w", j.taken+len(j.pending), j.lagErr())
	}
	start := len(j.pending)
	seq, hash := j.seq, j.hash
	buf := j.buf[:0]
	now := time.Now()
	for _, ev := range evs {
		if ev.Time.IsZero() {
			ev.Time = now
		}
		seq++
		r := j.key.Seal(seq, hash, ev)
		hash = r.Hash
		buf = appendLine(buf, &r)
		j.pending = append(j.pending, r)
	}
	j.buf = buf
	f := j.files[j.cur]
	if _, err := f.Write(buf); err != nil {
		j.pending = j.pending[:start]
		// Cut what part of the batch reached the file, so the next append
		// starts a line of its own.
		if terr := f.Truncate(j.sizes[j.cur]); terr != nil {
			j.broken = fmt.Errorf("write failed (%w) and the file could not be cut back (%w)", err, terr)
		}
		return fmt.Errorf("audit journal: write: %w", err)
	}
	j.sizes[j.cur] += int64(len(buf))
	j.last[j.cur] = seq
	j.seq, j.hash = seq, hash
	if len(j.pending) >= ingestSoon {
		select {
		case j.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// repair cuts the current file back to its last whole write after a
// failed write that could not be cut back at the time, so that records of
// refused appends never reach the table. Until it succeeds, nothing may
// take a sequence number. j.mu must be held.
func (j *journal) repair() error {
	if j.broken == nil {
		return nil
	}
	if err := j.files[j.cur].Truncate(j.sizes[j.cur]); err != nil {
		return j.broken
	}
	j.broken = nil
	return nil
}

func (j *journal) lagErr() error {
	if err := j.ingestErr(); err != nil {
		return err
	}
	return errors.New("the database is behind")
}

// ingestErr is the last ingest's error, nil if it succeeded.
func (j *journal) ingestErr() error {
	if p := j.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// take hands the pending records to an ingest and turns appends to the other
// file, so that the file holding them can be emptied once they are in.
func (j *journal) take() []audit.Record {
	j.mu.Lock()
	defer j.mu.Unlock()
	recs := j.pending
	if len(recs) == 0 {
		return nil
	}
	j.pending, j.spare = j.spare[:0], nil
	j.taken = len(recs)
	j.cur = 1 - j.cur
	return recs
}

// ingested records the outcome of an ingest of recs: on success it empties
// every file whose records are all in the table; on failure it puts back,
// in front of what came since, those of recs after the table's head (head,
// read after the failure: a commit that reported an error may still have
// happened).
func (j *journal) ingested(recs []audit.Record, err error, head int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.taken = 0
	if err != nil {
		i := 0
		for i < len(recs) && recs[i].Seq <= head {
			i++
		}
		j.pending = append(recs[i:len(recs):len(recs)], j.pending...)
		j.failed.Store(&err)
		j.failures.Add(1)
		if i > 0 {
			j.emptyUpTo(head)
		}
		return
	}
	j.failed.Store(nil)
	// The last sequence number is read before the records are cleared: an
	// emptyUpTo(0) here left every file full, so the files grew with every
	// record appended between two audited writes of the API, and start-up
	// replayed (and checked) all of them.
	last := recs[len(recs)-1].Seq
	clear(recs) // hold no strings of records already in the table
	j.spare = recs[:0]
	j.emptyUpTo(last)
}

// emptyUpTo truncates each file none of whose records is after seq. A file
// that cannot be truncated is tried again after the next ingest; its records
// are skipped on replay, being in the table.
func (j *journal) emptyUpTo(seq int64) {
	for i, f := range j.files {
		if j.sizes[i] > 0 && j.last[i] <= seq {
			if err := f.Truncate(0); err == nil {
				j.sizes[i] = 0
			}
		}
	}
}

// appendLine appends r as one journal line: tab-separated fields, strings
// Go-quoted (so they hold no tab or newline), ending in a newline.
func appendLine(b []byte, r *audit.Record) []byte {
	if r.Keyed {
		b = append(b, journalVersion...)
	} else {
		b = append(b, journalUnkeyed...)
	}
	b = append(b, '\t')
	b = strconv.AppendInt(b, r.Seq, 10)
	b = append(b, '\t')
	b = append(b, r.PrevHash...)
	b = append(b, '\t')
	b = append(b, r.Hash...)
	b = append(b, '\t')
	b = strconv.AppendInt(b, r.Time.UnixMicro(), 10)
	for _, s := range [...]string{r.Account, r.Event.Event, r.Outcome, r.Reason, r.Actor, r.Subject, r.KeyID,
		r.ClientIP, r.PeerIP, r.RequestID, r.Authenticator, r.Detail} {
		b = append(b, '\t')
		b = appendQuoted(b, s)
	}
	return append(b, '\n')
}

// appendQuoted is strconv.AppendQuote, quicker for the usual string of
// printable ASCII, which it quotes as is.
func appendQuoted(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return strconv.AppendQuote(b, s)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

const journalFields = 17

// parseLine reads a line appendLine wrote (without its newline).
func parseLine(line []byte) (audit.Record, error) {
	var r audit.Record
	fields := bytes.Split(line, []byte{'\t'})
	if len(fields) != journalFields || (string(fields[0]) != journalVersion && string(fields[0]) != journalUnkeyed) {
		return r, fmt.Errorf("not a %s or %s record of %d fields", journalVersion, journalUnkeyed, journalFields)
	}
	r.Keyed = string(fields[0]) == journalVersion
	var err error
	if r.Seq, err = strconv.ParseInt(string(fields[1]), 10, 64); err != nil || r.Seq < 1 {
		return r, fmt.Errorf("bad sequence number %q", fields[1])
	}
	r.PrevHash, r.Hash = string(fields[2]), string(fields[3])
	us, err := strconv.ParseInt(string(fields[4]), 10, 64)
	if err != nil {
		return r, fmt.Errorf("bad time %q", fields[4])
	}
	r.Time = time.UnixMicro(us).UTC()
	dst := [...]*string{&r.Account, &r.Event.Event, &r.Outcome, &r.Reason, &r.Actor, &r.Subject, &r.KeyID,
		&r.ClientIP, &r.PeerIP, &r.RequestID, &r.Authenticator, &r.Detail}
	for i, p := range dst {
		if *p, err = strconv.Unquote(string(fields[5+i])); err != nil {
			return r, fmt.Errorf("field %d is not a quoted string", 5+i)
		}
	}
	return r, nil
}

// ingester moves the journal into the table until stop is closed.
func (d *database) ingester(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(ingestEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		case <-d.j.wake:
		}
		// A failure keeps the records pending and is retried on the next
		// tick; appends fail once too many are waiting.
		_ = d.ingest(context.Background())
	}
}

// ingest moves the pending records into the table now. It is shared work
// (a reader asks for it on behalf of every appender), so the caller's
// cancellation does not reach the transaction: a cancelled statement would
// leave its records half in.
func (d *database) ingest(ctx context.Context) error {
	if d.j == nil {
		return nil
	}
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.closed {
		return errClosed
	}
	return d.ingestLocked(context.WithoutCancel(ctx))
}

// ingestLocked is ingest with d.wmu held.
func (d *database) ingestLocked(ctx context.Context) error {
	recs := d.j.take()
	if len(recs) == 0 {
		return nil
	}
	fresh := sqlstore.Names{}
	err := d.writeLocked(ctx, func(q sqlstore.Querier) error { return d.st.InsertRecords(ctx, q, recs, fresh) })
	var head int64
	if err != nil {
		err = fmt.Errorf("ingest %d audit records: %w", len(recs), err)
		if h, _, herr := d.st.AuditHead(ctx, querier{c: d.r, d: d}); herr == nil {
			head = h
		}
	} else {
		d.st.Remember(fresh)
	}
	d.j.ingested(recs, err, head)
	return err
}

// tableHashes returns the table's hashes of the records numbered from the
// first of recs up to head, and whether the head record is keyed (the
// checkpoint's keyed when every record was pruned).
func tableHashes(ctx context.Context, q sqlstore.Querier, recs []audit.Record, head int64) (map[int64]string, bool, error) {
	out := map[int64]string{}
	var keyed int64
	if head > 0 {
		rows, err := q.Query(ctx, "SELECT keyed FROM audit_events WHERE seq = $1 UNION ALL SELECT keyed FROM audit_checkpoint WHERE seq = $1", head)
		if err != nil {
			return nil, false, fmt.Errorf("audit journal: read the table: %w", err)
		}
		for rows.Next() {
			if err := rows.Scan(&keyed); err != nil {
				rows.Close()
				return nil, false, fmt.Errorf("audit journal: read the table: %w", err)
			}
		}
		rows.Close()
	}
	if len(recs) == 0 || recs[0].Seq > head {
		return out, keyed != 0, nil
	}
	rows, err := q.Query(ctx, "SELECT seq, hash FROM audit_events WHERE seq >= $1 AND seq <= $2", recs[0].Seq, head)
	if err != nil {
		return nil, false, fmt.Errorf("audit journal: read the table: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var hash []byte
		if err := rows.Scan(&seq, &hash); err != nil {
			return nil, false, fmt.Errorf("audit journal: read the table: %w", err)
		}
		out[seq] = hex.EncodeToString(hash)
	}
	return out, keyed != 0, rows.Err()
}

// replay brings into the table what the journal holds beyond its head, and
// sets the journal's head.
func (d *database) replay(ctx context.Context) error {
	recs, err := d.j.load()
	if err != nil {
		return fmt.Errorf("%w (%s)", err, keptForInspection)
	}
	d.wmu.Lock()
	defer d.wmu.Unlock()
	var seq int64
	var hash string
	fresh := sqlstore.Names{}
	err = d.writeLocked(ctx, func(q sqlstore.Querier) error {
		head, headHash, err := d.st.AuditHead(ctx, q)
		if err != nil {
			return err
		}
		inTable, keyed, err := tableHashes(ctx, q, recs, head)
		if err != nil {
			return err
		}
		tail, err := replayTail(d.j.key, recs, head, headHash, keyed, inTable)
		if err != nil {
			return fmt.Errorf("audit journal: %w (%s)", err, keptForInspection)
		}
		seq, hash = head, headHash
		if len(tail) > 0 {
			seq, hash = tail[len(tail)-1].Seq, tail[len(tail)-1].Hash
		}
		return d.st.InsertRecords(ctx, q, tail, fresh)
	})
	if err != nil {
		return err
	}
	d.st.Remember(fresh)
	d.j.seq, d.j.hash = seq, hash
	d.j.last = [2]int64{}
	d.j.emptyUpTo(seq)
	if d.j.sizes != [2]int64{} {
		// An unfinished line left in place would corrupt the next append.
		return errors.New("audit journal: replayed, but the files could not be emptied")
	}
	return nil
}
