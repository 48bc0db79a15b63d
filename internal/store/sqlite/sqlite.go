// Package sqlite is the single-instance keyward store over an SQLite file (modernc.org/sqlite, WAL).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

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
	db *database
}

// Open opens (creating if needed) and migrates the database at path.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open sqlite %q: path must be non-empty and free of '?' and '#'", path)
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
	ms, err := sqlstore.LoadMigrations(migrations, "migrations")
	if err == nil {
		err = sqlstore.Migrate(ctx, d, ms, sqlstore.SplitStatements)
	}
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return &Store{Store: sqlstore.New(d), db: d}, nil
}

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

func (d *database) Write(ctx context.Context, _ sqlstore.TxOptions, fn func(sqlstore.Querier) error) error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	tx, err := d.wc.BeginTx(ctx, nil)
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

func (d *database) Ping(ctx context.Context) error { return d.r.PingContext(ctx) }

func (d *database) Close() error {
	d.stmts.Range(func(_, st any) bool { st.(*sql.Stmt).Close(); return true })
	return errors.Join(d.r.Close(), d.wc.Close(), d.w.Close())
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
