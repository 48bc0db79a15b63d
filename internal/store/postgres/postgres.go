// Package postgres is the keyward store over PostgreSQL (pgx), shared safely by several keyward instances.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"math/rand/v2"
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
	db *database
}

// Open connects to the database named by dsn (a pgx connection string) and
// migrates it; audit records are chained under key.
func Open(ctx context.Context, dsn string, key *audit.Key) (*Store, error) {
	if key == nil {
		return nil, errors.New("open postgres: no audit chain key")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	d := &database{pool: pool}
	if err := pool.Ping(ctx); err != nil {
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
	return &Store{Store: sqlstore.New(d, key), db: d}, nil
}

// database implements sqlstore.DB.
type database struct {
	pool *pgxpool.Pool
}

func (d *database) Write(ctx context.Context, opts sqlstore.TxOptions, fn func(sqlstore.Querier) error) error {
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

func (d *database) Pool() sqlstore.Querier { return querier{d.pool, store.ErrNotFound} }

func (d *database) Time(t time.Time) any { return sqlstore.Micro(t) }

func (d *database) ForUpdate() string { return " FOR UPDATE" }

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

func (d *database) Ping(ctx context.Context) error { return d.pool.Ping(ctx) }

func (d *database) Close() error {
	d.pool.Close()
	return nil
}

// conn is what *pgxpool.Pool and pgx.Tx share.
type conn interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
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
