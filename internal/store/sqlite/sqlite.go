// Package sqlite is the single-instance keyward store over an SQLite file (modernc.org/sqlite, WAL).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a store.Store over one SQLite file. It keeps one writer
// connection, whose transactions begin IMMEDIATE so writers never deadlock
// upgrading a read lock, and a pool of read-only connections that WAL lets
// read while the writer writes.
type Store struct {
	*sqlstore.Store
	db     *database
	replay *replayCache
}

// Open opens (creating if needed) and migrates the database at path; audit
// records are chained under key. Every file it creates (the database, its
// -wal and -shm, the audit journal) is readable by the owner only.
func Open(ctx context.Context, path string, key *audit.Key) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open sqlite %q: path must be non-empty and free of '?' and '#'", path)
	}
	if key == nil {
		return nil, fmt.Errorf("open sqlite %s: no audit chain key", path)
	}
	// SQLite creates the database 0644 (less the umask), and its -wal and
	// -shm with the database's mode: create the database 0600 first.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	} else if err := f.Close(); err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// synchronous=NORMAL in WAL mode: a committed transaction survives a
	// crash of the process (kill -9), though not necessarily of the machine.
	common := "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	w, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)&_txlock=immediate&"+common)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", path+"?_pragma=query_only(1)&"+common)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	n := max(4, runtime.NumCPU())
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	wc, err := w.Conn(ctx)
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open sqlite %s: writer connection: %w", path, err)
	}
	d := &database{w: w, wc: wc, r: r}
	// The journal's lock comes first: a second process must not migrate
	// or replay under a running one.
	j, err := openJournal(path, key)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// A journal left by a keyward from before keyed chaining may start the
	// chain with unkeyed records: then the genesis the migration signs is
	// the unkeyed one.
	recs, _ := j.load()
	firstUnkeyed := len(recs) > 0 && recs[0].Seq == 1 && !recs[0].Keyed
	ms, err := sqlstore.LoadMigrations(migrations, "migrations")
	if err == nil {
		err = sqlstore.Migrate(ctx, d, sqlstore.WithAuditSteps(ms, key, firstUnkeyed), sqlstore.SplitStatements)
	}
	d.st = sqlstore.New(d, key)
	if err == nil {
		d.j = j
		err = d.replay(ctx)
	}
	rc := newReplayCache(DefaultReplayEntries)
	if err == nil {
		err = rc.loadNonces(ctx, d)
	}
	if err != nil {
		d.Close()
		j.close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	d.stop, d.done = make(chan struct{}), make(chan struct{})
	go d.ingester(d.stop, d.done)
	return &Store{Store: d.st, db: d, replay: rc}, nil
}

// OpenReadOnly opens the database at path for reading only, beside a
// process that may have it open: no migration, no journal, and every write
// fails. Records still in a running process's journal are not seen.
func OpenReadOnly(ctx context.Context, path string, key *audit.Key) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open sqlite %q: path must be non-empty and free of '?' and '#'", path)
	}
	r, err := sql.Open("sqlite", path+"?_pragma=query_only(1)&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	d := &database{r: r}
	return &Store{Store: sqlstore.New(d, key), db: d, replay: newReplayCache(DefaultReplayEntries)}, nil
}

// AppendAudit seals evs after the chain's head and writes them to the audit
// journal, from which they reach audit_events within milliseconds.
func (s *Store) AppendAudit(ctx context.Context, evs ...audit.Event) error {
	if len(evs) == 0 {
		return nil
	}
	if s.db.j == nil {
		return errReadOnly
	}
	if err := s.db.j.append(evs); err != nil {
		return fmt.Errorf("append %d audit events: %w", len(evs), err)
	}
	return nil
}

// ListAudit brings the journal into the table, then lists it.
func (s *Store) ListAudit(ctx context.Context, account string, limit, offset int) ([]audit.Record, int, error) {
	if err := s.db.ingest(ctx); err != nil {
		return nil, 0, fmt.Errorf("list audit: %w", err)
	}
	return s.Store.ListAudit(ctx, account, limit, offset)
}

// ListAuditFiltered brings the journal into the table, then lists it.
func (s *Store) ListAuditFiltered(ctx context.Context, account string, f audit.Filter, limit, offset int) ([]audit.Record, int, error) {
	if err := s.db.ingest(ctx); err != nil {
		return nil, 0, fmt.Errorf("list audit: %w", err)
	}
	return s.Store.ListAuditFiltered(ctx, account, f, limit, offset)
}

// AuditSince brings the journal into the table, then reads it.
func (s *Store) AuditSince(ctx context.Context, from int64, limit int) ([]audit.Record, error) {
	if err := s.db.ingest(ctx); err != nil {
		return nil, fmt.Errorf("read audit: %w", err)
	}
	return s.Store.AuditSince(ctx, from, limit)
}

// VerifyAudit brings the journal into the table, then walks the chain.
func (s *Store) VerifyAudit(ctx context.Context) (audit.Check, error) {
	if err := s.db.ingest(ctx); err != nil {
		return audit.Check{}, fmt.Errorf("verify audit: %w", err)
	}
	return s.Store.VerifyAudit(ctx)
}

var (
	errReadOnly = errors.New("the database was opened read-only")
	errClosed   = errors.New("the database is closed")
)

// database implements sqlstore.DB.
type database struct {
	w *sql.DB // one connection: the only writer
	// wc is that connection, held for good, so statements prepared on it
	// once serve every later write transaction (SQLite transactions belong
	// to the connection). wmu serializes the transactions on it.
	wc  *sql.Conn
	wmu sync.Mutex
	r   *sql.DB // read-only pool
	// numbered caches each query rewritten from $N to ?N parameters: SQLite
	// resolves $N as a name by a linear search, which makes a 1,700-parameter
	// audit insert quadratic to parse; ?N is resolved by its number.
	numbered sync.Map
	stmts    sync.Map // query -> *sql.Stmt prepared on wc
	// st is the store over d, whose audit records the journal inserts.
	st *sqlstore.Store
	// j is the audit journal (nil when read-only); the ingester runs
	// until stop is closed and then closes done.
	j          *journal
	stop, done chan struct{}
	closed     bool // under wmu: Close has run
}

// prepared returns the statement for query prepared on the writer
// connection, preparing it on first use: the audit insert on the hot path is
// then parsed once per process, not once per batch.
func (d *database) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := d.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := d.wc.PrepareContext(ctx, d.sql(query))
	if err != nil {
		return nil, err
	}
	if old, loaded := d.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return old.(*sql.Stmt), nil
	}
	return st, nil
}

func (d *database) sql(query string) string {
	if q, ok := d.numbered.Load(query); ok {
		return q.(string)
	}
	q := numberedParams(query)
	d.numbered.Store(query, q)
	return q
}

// numberedParams rewrites $N parameters for SQLite: to anonymous ? when they
// run 1, 2, 3… in order (the driver then binds by position without any name
// lookup), else to ?N.
func numberedParams(query string) string {
	var out strings.Builder
	out.Grow(len(query))
	next, inOrder := 1, true
	for i := 0; i < len(query); i++ {
		if query[i] == '$' && i+1 < len(query) && query[i+1] >= '0' && query[i+1] <= '9' {
			j := i + 1
			for j < len(query) && query[j] >= '0' && query[j] <= '9' {
				j++
			}
			if n, _ := strconv.Atoi(query[i+1 : j]); n != next {
				inOrder = false
			}
			next++
			i = j - 1
		}
	}
	for i := 0; i < len(query); i++ {
		c := query[i]
		if c == '$' && i+1 < len(query) && query[i+1] >= '0' && query[i+1] <= '9' {
			out.WriteByte('?')
			if inOrder {
				for i+1 < len(query) && query[i+1] >= '0' && query[i+1] <= '9' {
					i++
				}
			}
			continue
		}
		out.WriteByte(c)
	}
	return out.String()
}

func (d *database) Write(ctx context.Context, opts sqlstore.TxOptions, fn func(sqlstore.Querier) error) error {
	if d.wc == nil {
		return errReadOnly
	}
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.closed {
		return errClosed
	}
	if !opts.LockAudit || d.j == nil {
		return d.writeLocked(ctx, fn)
	}
	// The transaction appends records of its own: the journal's records
	// go in first, in the same transaction, and no append may take a
	// sequence number until it has committed and moved the head.
	j := d.j
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.repair(); err != nil {
		return fmt.Errorf("audit journal: %w", err)
	}
	var seq int64
	var hash string
	fresh := sqlstore.Names{}
	err := d.writeLocked(ctx, func(q sqlstore.Querier) error {
		if err := d.st.InsertRecords(ctx, q, j.pending, fresh); err != nil {
			return err
		}
		if err := fn(q); err != nil {
			return err
		}
		var err error
		seq, hash, err = d.st.AuditHead(ctx, q)
		return err
	})
	if err != nil {
		return err
	}
	d.st.Remember(fresh)
	clear(j.pending)
	j.pending = j.pending[:0]
	j.failed.Store(nil)
	j.seq, j.hash = seq, hash
	j.emptyUpTo(seq)
	return nil
}

// writeLocked runs fn in a write transaction; d.wmu must be held.
//
// The transaction is begun without the caller's cancellation: the writer's
// statements are prepared on the connection, not the transaction, so a
// rollback that database/sql ran on its own when the context ended could
// land after wmu is released, inside the next transaction, and turn the
// rest of that one into autocommitted statements. Every rollback happens
// here instead; a statement the context interrupts still fails, and fn
// returns its error.
func (d *database) writeLocked(ctx context.Context, fn func(sqlstore.Querier) error) error {
	tx, err := d.wc.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(querier{c: tx, d: d, writer: true}); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (d *database) Read(ctx context.Context, fn func(sqlstore.Querier) error) error {
	tx, err := d.r.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer tx.Rollback()
	return fn(querier{c: tx, d: d})
}

func (d *database) Pool() sqlstore.Querier { return querier{c: d.r, d: d} }

func (d *database) Time(t time.Time) any { return sqlstore.Micro(t).Format(sqlstore.TimeLayout) }

func (d *database) ForUpdate() string { return "" }

// Notify does nothing: one process holds an SQLite store, so no other
// instance has caches to refresh.
func (d *database) Notify(context.Context, sqlstore.Querier, []string) error { return nil }

func (d *database) Classify(err error) sqlstore.ErrClass {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return sqlstore.ErrOther
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return sqlstore.ErrUnique
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return sqlstore.ErrForeignKey
	}
	return sqlstore.ErrOther
}

// Ping reports the database unready while the audit journal cannot reach
// the table, before appends start failing.
func (d *database) Ping(ctx context.Context) error {
	if err := d.r.PingContext(ctx); err != nil {
		return err
	}
	if d.j != nil {
		if err := d.j.ingestErr(); err != nil {
			return fmt.Errorf("audit journal cannot reach the table: %w", err)
		}
	}
	return nil
}

func (d *database) Close() error {
	if d.stop != nil {
		close(d.stop)
		<-d.done
		d.stop = nil
	}
	// Wait for a write in flight, and let none start after.
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	var errs []error
	if d.j != nil {
		errs = append(errs, d.ingestLocked(context.Background()))
		d.j.mu.Lock()
		d.j.closed = true
		errs = append(errs, d.j.close())
		d.j.mu.Unlock()
	}
	d.stmts.Range(func(_, st any) bool { st.(*sql.Stmt).Close(); return true })
	errs = append(errs, d.r.Close())
	if d.wc != nil {
		errs = append(errs, d.wc.Close(), d.w.Close())
	}
	return errors.Join(errs...)
}

// conn is what *sql.DB and *sql.Tx share.
type conn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// querier adapts database/sql to sqlstore.Querier.
type querier struct {
	c conn
	d *database
	// writer: inside a write transaction on wc, where Exec uses the
	// connection's prepared statements (they run in that transaction).
	writer bool
}

func (q querier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	var (
		res sql.Result
		err error
	)
	if q.writer {
		var st *sql.Stmt
		if st, err = q.d.prepared(ctx, query); err == nil {
			res, err = st.ExecContext(ctx, args...)
		}
	} else {
		res, err = q.c.ExecContext(ctx, q.d.sql(query), args...)
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q querier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	var (
		rows *sql.Rows
		err  error
	)
	if q.writer {
		var st *sql.Stmt
		if st, err = q.d.prepared(ctx, query); err == nil {
			rows, err = st.QueryContext(ctx, args...)
		}
	} else {
		rows, err = q.c.QueryContext(ctx, q.d.sql(query), args...)
	}
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }
