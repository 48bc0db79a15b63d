// Package postgres is the keyward store over PostgreSQL (pgx), shared safely by several keyward instances.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// maxAttempts bounds how often a transaction runs after serialization
// failures (SQLSTATE 40001) or deadlocks (40P01) before the error is returned.
const maxAttempts = 12

// Store is a store.Store over a PostgreSQL database.
//
// Read-modify-write runs in SERIALIZABLE transactions, retried with jittered
// backoff on a serialization failure. Every transaction that appends audit
// records first takes LOCK TABLE audit_head IN EXCLUSIVE MODE: a utility
// statement, so it runs before the transaction's snapshot is taken, which
// means appenders on every instance queue for the head instead of failing
// with 40001; then they read the head with SELECT ... FOR UPDATE.
type Store struct {
	*sqlstore.Store
	db         *database
	listen     *pgx.ConnConfig
	stopLinker context.CancelFunc
	linkerDone chan struct{}
	useConn    *pgx.Conn // holds the exclusive use lock (HoldUse), if taken
	useStop    context.CancelFunc
	useDone    chan struct{}
	log        *slog.Logger
	auditSync  bool // Options.AuditSync
}

// Options bound how the store uses PostgreSQL.
type Options struct {
	// Timeout is the longest any call waits on PostgreSQL (connection,
	// statements, commit); pooled connections also get it as
	// statement_timeout. 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxConns sizes the pool; 0 means max(4, cores). The change listener
	// is one more connection.
	MaxConns int
	// AuditSync commits audit-only appends (the records of
	// authentications, reads and denials, which no write carries) with
	// synchronous_commit on. By default they commit with it off: the
	// answer waits for the commit (the record is durable against any
	// crash of keyward, and visible to every instance and reader) but not
	// for its WAL flush, which PostgreSQL's WAL writer does within
	// wal_writer_delay (a crash of PostgreSQL itself, or of its machine,
	// in that window loses those records; the chain stays intact). That
	// is the SQLite journal's durability (written, not fsynced). Writes and
	// the records they carry always commit synchronously.
	AuditSync bool
	// Logger receives the use lock's waits and losses; nil drops them.
	Logger *slog.Logger
}

// DefaultTimeout is Options.Timeout's default.
const DefaultTimeout = 5 * time.Second

// Open connects to the database named by dsn (a pgx connection string) and
// migrates it; audit records are chained under key.
func Open(ctx context.Context, dsn string, key *audit.Key) (*Store, error) {
	return OpenWith(ctx, dsn, key, Options{})
}

// OpenWith is Open with opts.
func OpenWith(ctx context.Context, dsn string, key *audit.Key, opts Options) (*Store, error) {
	if key == nil {
		return nil, errors.New("open postgres: no audit chain key")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = max(4, runtime.NumCPU())
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	cfg.MaxConns = int32(min(opts.MaxConns, math.MaxInt32))
	cfg.ConnConfig.ConnectTimeout = opts.Timeout
	cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(opts.Timeout.Milliseconds(), 10)
	// The listener keeps its own connection, outside the pool and without
	// a statement timeout of its own (LISTEN waits for ever by design).
	lcfg := cfg.ConnConfig.Copy()
	lcfg.ConnectTimeout = listenConnectTimeout
	delete(lcfg.RuntimeParams, "statement_timeout")
	lcfg.RuntimeParams["application_name"] = fmt.Sprintf("keyward-listener-%d-%x", os.Getpid(), rand.Uint32())
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "keyward"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	d := &database{pool: pool, timeout: opts.Timeout}
	if err := d.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	ms, err := sqlstore.LoadMigrations(migrations, "migrations")
	if err == nil {
		// PostgreSQL runs several statements in one simple-protocol Exec.
		err = sqlstore.Migrate(ctx, d, sqlstore.WithAuditSteps(ms, key, false), func(s string) []string { return []string{s} })
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	st := &Store{Store: sqlstore.New(d, key), db: d, listen: lcfg, linkerDone: make(chan struct{}), log: logger(opts.Logger), auditSync: opts.AuditSync}
	st.Store.UsePendingAudit(!opts.AuditSync)
	var lctx context.Context
	lctx, st.stopLinker = context.WithCancel(context.Background())
	go st.runLinker(lctx, st.linkerDone)
	return st, nil
}

// database implements sqlstore.DB.
type database struct {
	pool    *pgxpool.Pool
	timeout time.Duration
}

func (d *database) Write(ctx context.Context, opts sqlstore.TxOptions, fn func(sqlstore.Querier) error) error {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	return unavailable(d.write(ctx, opts, fn))
}

func (d *database) write(ctx context.Context, opts sqlstore.TxOptions, fn func(sqlstore.Querier) error) error {
	txo := pgx.TxOptions{IsoLevel: pgx.ReadCommitted}
	if opts.Isolation == sqlstore.Serializable {
		txo.IsoLevel = pgx.Serializable
	}
	for attempt := 1; ; attempt++ {
		err := d.try(ctx, txo, opts, fn)
		if err == nil || !retryable(err) || attempt == maxAttempts {
			return err
		}
		// Full jitter over an exponential ceiling: 2ms, 4ms, … up to 200ms.
		ceil := min(2*time.Millisecond<<(attempt-1), 200*time.Millisecond)
		t := time.NewTimer(rand.N(ceil) + time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (retrying after: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

func (d *database) try(ctx context.Context, txo pgx.TxOptions, opts sqlstore.TxOptions, fn func(sqlstore.Querier) error) error {
	tx, err := d.pool.BeginTx(ctx, txo)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if opts.Migrate {
		// Instances starting together migrate one at a time, per schema.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('keyward.migrate.' || current_schema()))"); err != nil {
			return fmt.Errorf("lock migrations: %w", err)
		}
	}
	if opts.LockAudit {
		if _, err := tx.Exec(ctx, "LOCK TABLE audit_head IN EXCLUSIVE MODE"); err != nil {
			return fmt.Errorf("lock audit head: %w", err)
		}
	}
	if err := fn(querier{tx, store.ErrInvalidText}); err != nil {
		return badText(err, store.ErrInvalidText)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// badText marks PostgreSQL's refusal of a NUL byte or invalid UTF-8 in a
// text value as as: such text cannot be stored (ErrInvalidText) and no
// stored value can equal it (ErrNotFound). SQLite stores it as given.
func badText(err, as error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "22021" || pe.Code == "22P05") && !errors.Is(err, as) {
		return fmt.Errorf("%w: %w", as, err)
	}
	return err
}

// retryable reports a serialization failure or a deadlock.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

func (d *database) Read(ctx context.Context, fn func(sqlstore.Querier) error) error {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	return unavailable(d.read(ctx, fn))
}

func (d *database) read(ctx context.Context, fn func(sqlstore.Querier) error) error {
	tx, err := d.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(querier{tx, store.ErrNotFound}); err != nil {
		return badText(err, store.ErrNotFound)
	}
	return tx.Commit(ctx)
}

func (d *database) Pool() sqlstore.Querier { return poolQuerier{d} }

func (d *database) Time(t time.Time) any { return sqlstore.Micro(t) }

func (d *database) ForUpdate() string { return " FOR UPDATE" }

// Channel is the notification channel of committed changes.
const Channel = "keyward_changes"

// Notify runs pg_notify in the transaction q, so each payload reaches every
// listener when, and only if, q commits.
func (d *database) Notify(ctx context.Context, q sqlstore.Querier, payloads []string) error {
	for _, p := range payloads {
		if _, err := q.Exec(ctx, "SELECT pg_notify('"+Channel+"', $1)", p); err != nil {
			return err
		}
	}
	return nil
}

func (d *database) Classify(err error) sqlstore.ErrClass {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return sqlstore.ErrUnique
		case "23503":
			return sqlstore.ErrForeignKey
		}
	}
	return sqlstore.ErrOther
}

func (d *database) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	return unavailable(d.pool.Ping(ctx))
}

func (d *database) Close() error {
	d.pool.Close()
	return nil
}

// conn is what *pgxpool.Pool and pgx.Tx share.
type conn interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error)
}

// querier adapts pgx to sqlstore.Querier; badText is what a refused NUL
// byte or invalid UTF-8 means to its callers (see badText).
type querier struct {
	c       conn
	badText error
}

func (q querier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := q.c.Exec(ctx, query, args...)
	if err != nil {
		return 0, badText(err, q.badText)
	}
	return tag.RowsAffected(), nil
}

// CopyFrom bulk-loads rows into table (sqlstore.Copier).
func (q querier) CopyFrom(ctx context.Context, table string, cols []string, rows [][]any) (int64, error) {
	n, err := q.c.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
	if err != nil {
		return 0, badText(err, q.badText)
	}
	return n, nil
}

func (q querier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := q.c.Query(ctx, query, args...)
	if err != nil {
		return nil, badText(err, q.badText)
	}
	return textRows{rows, q.badText}, nil
}

// textRows reports a refused NUL or invalid UTF-8 from Err as well: pgx
// often learns of an error only after Query has returned.
type textRows struct {
	pgx.Rows
	badText error
}

func (r textRows) Err() error { return badText(r.Rows.Err(), r.badText) }

// poolQuerier runs single statements on the pool, each bounded by the
// store's timeout (a query's until its rows are closed).
type poolQuerier struct{ d *database }

func (p poolQuerier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, p.d.timeout)
	defer cancel()
	n, err := querier{p.d.pool, store.ErrNotFound}.Exec(ctx, query, args...)
	return n, unavailable(err)
}

func (p poolQuerier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	ctx, cancel := context.WithTimeout(ctx, p.d.timeout)
	rows, err := querier{p.d.pool, store.ErrNotFound}.Query(ctx, query, args...)
	if err != nil {
		cancel()
		return nil, unavailable(err)
	}
	return timedRows{rows, cancel}, nil
}

// timedRows ends its query's deadline when closed.
type timedRows struct {
	sqlstore.Rows
	cancel context.CancelFunc
}

func (r timedRows) Err() error { return unavailable(r.Rows.Err()) }

func (r timedRows) Close() {
	r.Rows.Close()
	r.cancel()
}

// unavailable marks an error that means PostgreSQL could not be reached or
// did not answer in time (no connection, a broken one, a timeout, a server
// shutting down or out of connections) as store.ErrUnavailable, so no
// caller mistakes it for an answer. Errors PostgreSQL gave as an answer
// (constraints, bad text, serialization after every retry) and errors of
// the caller's own making pass unchanged.
func unavailable(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code[:2] {
		case "08", "53", "57", "58":
			return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		}
		return err
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &ce), errors.As(err, &ne), pgconn.Timeout(err), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed), isClosedConn(err):
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

// isClosedConn reports pgx's errors for a connection that broke earlier.
func isClosedConn(err error) bool {
	var se interface{ SafeToRetry() bool }
	if errors.As(err, &se) {
		return true // pgconn marks failures to send or receive this way
	}
	return strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "closed pool")
}
