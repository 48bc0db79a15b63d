package sqlstore

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/keyward/keyward/internal/audit"
)

// Writing sealed records into audit_events: multi-row INSERTs, or one COPY
// where the backend has it.

// auditChunk is how many records one INSERT carries; 16 columns each stays
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

// InsertRecords writes records already sealed after the current head, in
// order, and moves the head to the last of them. q must be a transaction
// that holds the audit lock; the names it adds go to fresh, for Remember
// once the transaction has committed.
func (s *Store) InsertRecords(ctx context.Context, q Querier, recs []audit.Record, fresh Names) error {
	if len(recs) == 0 {
		return nil
	}
	if c, ok := q.(Copier); ok {
		if err := s.copyRecords(ctx, c, recs, fresh); err != nil {
			return err
		}
		return s.moveHead(ctx, q, recs[len(recs)-1])
	}
	args := make([]any, 0, auditNCols*min(len(recs), auditChunk))
	for start := 0; start < len(recs); start += auditChunk {
		batch := recs[start:min(start+auditChunk, len(recs))]
		args = args[:0]
		for i := range batch {
			r := &batch[i]
			var err error
			if args, err = s.recordRow(ctx, q, r, fresh, args); err != nil {
				return err
			}
		}
		if _, err := q.Exec(ctx, auditInsertSQL(len(batch)), args...); err != nil {
			return fmt.Errorf("insert audit records: %w", err)
		}
	}
	return s.moveHead(ctx, q, recs[len(recs)-1])
}

// recordRow appends r's column values (auditCols) to row.
func (s *Store) recordRow(ctx context.Context, q Querier, r *audit.Record, fresh Names, row []any) ([]any, error) {
	row = append(row, r.Seq, r.Time.UnixMicro())
	for _, n := range [...]string{r.Account, r.Event.Event, r.Outcome, r.Reason, r.Actor, r.Subject, r.Authenticator} {
		id, err := s.nameID(ctx, q, n, fresh)
		if err != nil {
			return nil, fmt.Errorf("insert audit records: %w", err)
		}
		row = append(row, id)
	}
	var peer, detail any
	if r.PeerIP != r.ClientIP {
		peer = r.PeerIP
	}
	if r.Detail != "" {
		detail = r.Detail
	}
	hash, err := hex.DecodeString(r.Hash)
	if err != nil {
		return nil, fmt.Errorf("insert audit record %d: its hash is not hex", r.Seq)
	}
	return append(row, r.KeyID, r.ClientIP, peer, r.RequestID, detail, hash, keyedInt(r.Keyed)), nil
}

// Copier is a Querier that can bulk-load rows (PostgreSQL's COPY): one
// statement for a linker's whole batch, several times cheaper per row for
// the server than a multi-row INSERT.
type Copier interface {
	CopyFrom(ctx context.Context, table string, cols []string, rows [][]any) (int64, error)
}

var auditColList = strings.Split(strings.ReplaceAll(auditCols, " ", ""), ",")

// copyRecords writes recs into audit_events with one COPY.
func (s *Store) copyRecords(ctx context.Context, c Copier, recs []audit.Record, fresh Names) error {
	q := c.(Querier)
	rows := make([][]any, len(recs))
	vals := make([]any, 0, auditNCols*len(recs))
	for i := range recs {
		start := len(vals)
		var err error
		if vals, err = s.recordRow(ctx, q, &recs[i], fresh, vals); err != nil {
			return err
		}
		rows[i] = vals[start:len(vals):len(vals)]
	}
	if _, err := c.CopyFrom(ctx, "audit_events", auditColList, rows); err != nil {
		return fmt.Errorf("insert audit records: %w", err)
	}
	return nil
}

// moveHead moves the chain head to last.
func (s *Store) moveHead(ctx context.Context, q Querier, last audit.Record) error {
	if _, err := q.Exec(ctx, "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", last.Seq, last.Hash); err != nil {
		return fmt.Errorf("move audit head: %w", err)
	}
	return nil
}
