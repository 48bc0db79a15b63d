// Package sqlstore implements store.Store once over SQL; the sqlite and postgres backends supply the connections and the dialect.
package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/store"
)

// Isolation is the isolation a write transaction asks for.
type Isolation int

// Isolation levels. SQLite has one writer and ignores them.
const (
	// Serializable is for read-modify-write: the backend may run the
	// function again after a serialization failure.
	Serializable Isolation = iota
	// ReadCommitted is for blind writes and audit appends, which take locks
	// instead of relying on a snapshot.
	ReadCommitted
)

// TxOptions describes a write transaction.
type TxOptions struct {
	Isolation Isolation
	// LockAudit asks the backend to serialize the transaction with every
	// other audit appender before its first read, so appends form one chain.
	LockAudit bool
	// Migrate asks the backend to serialize the transaction with every other
	// migration of the same schema.
	Migrate bool
}

// Rows is the part of *sql.Rows and pgx.Rows the store uses.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Querier runs statements, inside a transaction or not. Placeholders are $1, $2…
type Querier interface {
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	Query(ctx context.Context, query string, args ...any) (Rows, error)
}

// ErrClass says what kind of constraint an error broke.
type ErrClass int

// Error classes a backend reports.
const (
	ErrOther ErrClass = iota
	ErrUnique
	ErrForeignKey
)

// DB is what a backend supplies: transactions, the way it encodes times, and
// how it classifies its errors.
type DB interface {
	// Write runs fn in a write transaction and commits it if fn returns nil.
	Write(ctx context.Context, opts TxOptions, fn func(Querier) error) error
	// Read runs fn in a read-only transaction over one consistent snapshot.
	Read(ctx context.Context, fn func(Querier) error) error
	// Pool runs single statements outside a transaction.
	Pool() Querier
	// Time returns the argument that stores t in a timestamp column.
	Time(t time.Time) any
	// ForUpdate is the suffix that locks selected rows, or "".
	ForUpdate() string
	// Classify reports which constraint err broke, if any.
	Classify(err error) ErrClass
	// Notify announces payloads to every instance when the transaction q
	// commits (PostgreSQL's pg_notify); a backend with one instance does
	// nothing.
	Notify(ctx context.Context, q Querier, payloads []string) error
	Ping(ctx context.Context) error
	Close() error
}

// Store implements store.Store over a DB.
type Store struct {
	db    DB
	key   *audit.Key
	names nameCache // committed audit_names ids
	// head is the highest chain head this process committed (headSeen):
	// a head found below it was moved back under the process.
	head         atomic.Int64
	pending      bool // records go to audit_pending (UsePendingAudit)
	pendingAsync bool // AppendAudit commits them with synchronous_commit off
}

var _ store.Store = (*Store)(nil)

// New returns a Store over db, chaining audit records under key; the schema
// must already be migrated.
func New(db DB, key *audit.Key) *Store { return &Store{db: db, key: key} }

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.Ping(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// Close releases the database.
func (s *Store) Close() error { return s.db.Close() }

// errNoRows is what queryOne returns when nothing matched.
var errNoRows = errors.New("no rows")

// queryOne runs query and scans its first row with scan; errNoRows if none.
func queryOne(ctx context.Context, q Querier, scan func(Rows) error, query string, args ...any) error {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return errNoRows
	}
	if err := scan(rows); err != nil {
		return err
	}
	return rows.Err()
}

// queryAll runs query and calls each for every row.
func queryAll(ctx context.Context, q Querier, each func(Rows) error, query string, args ...any) error {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// notFound maps errNoRows to store.ErrNotFound and leaves other errors alone.
func notFound(err error) error {
	if errors.Is(err, errNoRows) {
		return store.ErrNotFound
	}
	return err
}

// constraint maps a broken unique constraint to store.ErrAlreadyExists and a
// broken foreign key (a missing account, principal or role) to store.ErrNotFound.
func (s *Store) constraint(err error) error {
	switch s.db.Classify(err) {
	case ErrUnique:
		return fmt.Errorf("%w: %w", store.ErrAlreadyExists, err)
	case ErrForeignKey:
		return fmt.Errorf("%w: a referenced record is missing: %w", store.ErrNotFound, err)
	}
	return err
}

// count runs a count query.
func count(ctx context.Context, q Querier, query string, args ...any) (int, error) {
	var n int64
	err := queryOne(ctx, q, func(r Rows) error { return r.Scan(&n) }, query, args...)
	return int(n), err
}

// pageSQL turns a Page into a LIKE pattern, limit and offset.
func pageSQL(p store.Page) (pattern string, limit, offset int) {
	limit, offset = p.Limit, p.Offset
	if limit <= 0 {
		limit = 100
	}
	if offset < 0 {
		offset = 0
	}
	return "%" + escapeLike(p.Search) + "%", limit, offset
}

// escapeLike escapes LIKE's wildcards with a backslash (ESCAPE '\').
func escapeLike(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\', '%', '_':
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}
