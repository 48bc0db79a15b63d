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
// serving keyward waited UseLockWait for such a command to finish.
var ErrInUse = errors.New("the store is in use by a running keyward")

// useLockClass is the key of the session advisory lock keyward took as its
// use lock before review r25b R4. Nothing takes it now: an advisory lock id
// is public, so any role that may connect could hold it, or merely ask for
// it exclusively while servers held it shared, and keep every starting
// keyward waiting.
const useLockClass = 0x6b77

// The use "lock" is presence, not a PostgreSQL lock (review r25b R4). A
// serving keyward keeps one idle session named keyward-use-<schema>-…; a
// command that needs the store alone (admin recover) keeps one named
// keyward-excl-<schema>-… while it runs. Each side names its session first
// (at connect), then looks in pg_stat_activity for the other's: recover
// refuses "in use" while a server's session exists, and a server waits
// (at most UseLockWait, naming the holder) while a recover's exists.
// Because each registers before it looks, two that start together cannot
// both miss the other.
//
// Only sessions of roles that may write keyward's tables count
// (has_table_privilege(…, 'schema_migrations', 'UPDATE'); superusers
// too): any role may set any application_name, but a role without that
// privilege can neither pose as a keyward nor keep one from starting. No
// table lock is held: a long-held table lock could be queued behind by a
// role without privilege (CREATE RULE on a table takes ACCESS EXCLUSIVE
// before it checks ownership, and a waiting request blocks every later
// one), which is the same denial of service the advisory lock allowed; and
// no transaction stays open, so nothing holds back vacuum's horizon.
const (
	useServe = "use"
	useAlone = "excl"
)

// UseLockWait bounds how long a serving keyward waits for a command that
// needs the store alone (admin recover takes seconds).
var UseLockWait = 30 * time.Second

// useLockRetry is how often a waiting keyward looks again.
const useLockRetry = 250 * time.Millisecond

// HoldUse marks the store in use on a connection of its own, held until
// Close (see useServe). Every serving keyward holds it, and waits (at
// most UseLockWait, logging who) for a command that needs the store alone
// to finish; it watches that connection, and opens a new one if
// PostgreSQL ends the session (pg_terminate_backend, idle_session_timeout,
// a proxy). exclusive is for the commands that must run with every server
// stopped (a running keyward keeps credentials in memory that such a
// command changes): it never waits, and fails with ErrInUse while any
// keyward serves.
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

// takeUse connects under the name of its side, then looks for the other
// side's sessions.
func (s *Store) takeUse(ctx context.Context, exclusive bool) (*pgx.Conn, error) {
	var tag string
	if err := s.db.pool.QueryRow(ctx, "SELECT to_hex(hashtext(current_schema()))").Scan(&tag); err != nil {
		return nil, fmt.Errorf("postgres: use lock: %w", err)
	}
	mine, other := useServe, useAlone
	if exclusive {
		mine, other = useAlone, useServe
	}
	cfg := s.listen.Copy()
	cfg.RuntimeParams["application_name"] = fmt.Sprintf("keyward-%s-%s-%d-%x", mine, tag, os.Getpid(), rand.Uint32())
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: use lock: %w", err)
	}
	fail := func(err error) (*pgx.Conn, error) {
		_ = conn.Close(context.Background())
		return nil, err
	}
	// The session is the presence: a server's idle_session_timeout
	// (common hardening) must not end it, or admin recover could run in
	// the gap before it is re-opened (review r25c F6). Servers before
	// PostgreSQL 14 have no such setting: the error is ignored.
	_, _ = conn.Exec(ctx, "SET idle_session_timeout = 0")
	if exclusive {
		// A server, or another command that needs the store alone.
		for _, side := range []string{useServe, useAlone} {
			holders, err := useSessions(ctx, conn, side, tag)
			if err != nil {
				return fail(err)
			}
			if holders != "" {
				return fail(fmt.Errorf("%w (%s)", ErrInUse, holders))
			}
		}
		return conn, nil
	}
	deadline := time.Now().Add(UseLockWait)
	logged := false
	for {
		holders, err := useSessions(ctx, conn, other, tag)
		if err != nil {
			return fail(err)
		}
		if holders == "" {
			if logged {
				s.log.Info("took the store's use lock")
			}
			return conn, nil
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("%w: a keyward command that needs the store alone (%s) did not finish in %s; "+
				"if it is stuck, end it (SELECT pg_terminate_backend(PID))", ErrInUse, holders, UseLockWait))
		}
		if !logged {
			s.log.Warn("waiting for a keyward command that needs the store alone (admin recover) to finish",
				"holders", holders, "gives_up_after", UseLockWait.String())
			logged = true
		}
		select {
		case <-ctx.Done():
			return fail(fmt.Errorf("postgres: use lock: %w", ctx.Err()))
		case <-time.After(useLockRetry):
		}
	}
}

// useSessions names the other sessions of side on this schema, of roles
// that may write keyward's tables (pid, role, application), or "".
func useSessions(ctx context.Context, conn *pgx.Conn, side, tag string) (string, error) {
	rows, err := conn.Query(ctx, `SELECT a.pid, coalesce(a.usename::text, ''), a.application_name
		FROM pg_stat_activity a
		WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.application_name LIKE $1
		AND a.usesysid IS NOT NULL AND has_table_privilege(a.usesysid, to_regclass('schema_migrations'), 'UPDATE')
		ORDER BY a.pid`, "keyward-"+side+"-"+tag+"-%")
	if err != nil {
		return "", fmt.Errorf("postgres: use lock: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var pid int32
		var user, app string
		if err := rows.Scan(&pid, &user, &app); err != nil {
			return "", fmt.Errorf("postgres: use lock: %w", err)
		}
		out = append(out, fmt.Sprintf("pid %d user %q application %q", pid, user, app))
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("postgres: use lock: %w", err)
	}
	return strings.Join(out, "; "), nil
}

// watchUse keeps the serving session conn until ctx ends, and opens a new
// one whenever PostgreSQL ends that session: the session is what makes
// admin recover refuse "in use" beside this keyward.
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
