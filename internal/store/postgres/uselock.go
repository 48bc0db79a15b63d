package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrInUse is returned by HoldUse when a command that needs the store to
// itself (keyward admin recover) finds a running keyward on it, or when a
// serving keyward waited UseLockWait for an exclusive holder.
var ErrInUse = errors.New("the store is in use by a running keyward")

// useLockClass is the first key of the session advisory lock every keyward
// holds on a shared store; the second is a hash of the schema, so that
// stores in different schemas of one database do not meet.
//
// Advisory locks need no privilege: any role that may connect to the
// database can take this one (docs/operations.md says to REVOKE CONNECT
// from PUBLIC). So a serving keyward never waits for it forever: it logs
// who holds it and gives up after UseLockWait.
const useLockClass = 0x6b77

// UseLockWait bounds how long a serving keyward waits for the use lock
// while another session holds it exclusively (admin recover takes seconds).
var UseLockWait = 30 * time.Second

// useLockRetry is how often a waiting keyward tries the lock again.
const useLockRetry = 250 * time.Millisecond

// HoldUse takes the store's use lock on a connection of its own, held
// until Close. Every serving keyward holds it shared, and waits (at most
// UseLockWait, logging the holder) for an exclusive holder to finish; it
// watches that connection, and takes the lock again on a new one if
// PostgreSQL ends the session (pg_terminate_backend, idle_session_timeout,
// a proxy). exclusive is for the commands that must run with every server
// stopped (a running keyward keeps credentials in memory that such a
// command changes): it never waits, and fails with ErrInUse while any
// keyward holds it.
func (s *Store) HoldUse(ctx context.Context, exclusive bool) error {
	if s.useConn != nil || s.useStop != nil {
		return errors.New("postgres: the use lock is already held")
	}
	conn, err := s.takeUse(ctx, exclusive)
	if err != nil {
		return err
	}
	if exclusive {
		s.useConn = conn
		return nil
	}
	wctx, stop := context.WithCancel(context.Background())
	s.useStop, s.useDone = stop, make(chan struct{})
	go s.watchUse(wctx, conn)
	return nil
}

// takeUse connects and takes the use lock.
func (s *Store) takeUse(ctx context.Context, exclusive bool) (*pgx.Conn, error) {
	cfg := s.listen.Copy()
	cfg.RuntimeParams["application_name"] = fmt.Sprintf("keyward-use-%d-%x", os.Getpid(), rand.Uint32())
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: use lock: %w", err)
	}
	fail := func(err error) (*pgx.Conn, error) {
		_ = conn.Close(context.Background())
		return nil, err
	}
	if exclusive {
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1, hashtext(current_schema()))", useLockClass).Scan(&ok); err != nil {
			return fail(fmt.Errorf("postgres: use lock: %w", err))
		}
		if !ok {
			return fail(ErrInUse)
		}
		return conn, nil
	}
	deadline := time.Now().Add(UseLockWait)
	logged := false
	for {
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock_shared($1, hashtext(current_schema()))", useLockClass).Scan(&ok); err != nil {
			return fail(fmt.Errorf("postgres: use lock: %w", err))
		}
		if ok {
			if logged {
				s.log.Info("took the store's use lock")
			}
			return conn, nil
		}
		holders := useHolders(ctx, conn)
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("%w: another session holds the store's use lock exclusively (%s) and did not let go in %s; "+
				"if it is not a keyward admin command, end it (SELECT pg_terminate_backend(PID)) and restrict who may connect "+
				"(REVOKE CONNECT ON DATABASE … FROM PUBLIC)", ErrInUse, holders, UseLockWait))
		}
		if !logged {
			s.log.Warn("waiting for the store's use lock, held exclusively by another session (a keyward admin command, or "+
				"a foreign session: see docs/operations.md)", "holders", holders, "gives_up_after", UseLockWait.String())
			logged = true
		}
		select {
		case <-ctx.Done():
			return fail(fmt.Errorf("postgres: use lock: %w", ctx.Err()))
		case <-time.After(useLockRetry):
		}
	}
}

// useHolders names the sessions that hold the use lock exclusively (pid,
// role, application), for the operator to find them.
func useHolders(ctx context.Context, conn *pgx.Conn) string {
	rows, err := conn.Query(ctx, `SELECT l.pid, coalesce(a.usename::text, ''), coalesce(a.application_name, '')
		FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.mode = 'ExclusiveLock' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND l.classid = $1::int4::oid AND l.objid = hashtext(current_schema())::oid AND l.objsubid = 2`, useLockClass)
	if err != nil {
		return "unknown: " + err.Error()
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var pid int32
		var user, app string
		if rows.Scan(&pid, &user, &app) == nil {
			out = append(out, fmt.Sprintf("pid %d user %q application %q", pid, user, app))
		}
	}
	if len(out) == 0 {
		return "unknown"
	}
	return strings.Join(out, "; ")
}

// watchUse holds the shared use lock on conn until ctx ends, and takes it
// again on a new connection whenever PostgreSQL ends that session: the
// lock is what makes admin recover refuse "in use" beside this keyward.
func (s *Store) watchUse(ctx context.Context, conn *pgx.Conn) {
	defer close(s.useDone)
	for {
		// Nothing is listened for: this returns when the session ends.
		_, err := conn.WaitForNotification(ctx)
		if ctx.Err() != nil {
			_ = conn.Close(context.Background())
			return
		}
		if err == nil {
			continue
		}
		_ = conn.Close(context.Background())
		s.log.Warn("lost the store's use lock session; taking the lock again (until then, admin recover would not see "+
			"this keyward)", "err", err)
		// Retried every second, silently: an outage of the store is
		// logged once, by the change listener, not once a second here.
		for {
			c, err := s.takeUse(ctx, false)
			if err == nil {
				conn = c
				s.log.Info("took the store's use lock again")
				break
			}
			if ctx.Err() != nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
}

// releaseUse lets the use lock go.
func (s *Store) releaseUse() {
	if s.useStop != nil {
		s.useStop()
		<-s.useDone
		s.useStop = nil
	}
	if s.useConn != nil {
		_ = s.useConn.Close(context.Background())
		s.useConn = nil
	}
}

// logger returns the store's logger (Options.Logger, else one that drops).
func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
