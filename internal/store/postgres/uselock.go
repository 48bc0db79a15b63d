package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"

	"github.com/jackc/pgx/v5"
)

// ErrInUse is returned by HoldUse when a command that needs the store to
// itself (keyward admin recover) finds a running keyward on it.
var ErrInUse = errors.New("the store is in use by a running keyward")

// useLockClass is the first key of the session advisory lock every keyward
// holds on a shared store; the second is a hash of the schema, so that
// stores in different schemas of one database do not meet.
const useLockClass = 0x6b77

// HoldUse takes the store's use lock on a connection of its own, held
// until Close (or until that connection is lost). Every serving keyward
// holds it shared, and waits for an exclusive holder to finish; exclusive
// is for the commands that must run with every server stopped (a running
// keyward keeps credentials in memory that such a command changes): it
// never waits, and fails with ErrInUse while any keyward holds it.
func (s *Store) HoldUse(ctx context.Context, exclusive bool) error {
	if s.useConn != nil {
		return errors.New("postgres: the use lock is already held")
	}
	cfg := s.listen.Copy()
	cfg.RuntimeParams["application_name"] = fmt.Sprintf("keyward-use-%d-%x", os.Getpid(), rand.Uint32())
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("postgres: use lock: %w", err)
	}
	if exclusive {
		var ok bool
		err = conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1, hashtext(current_schema()))", useLockClass).Scan(&ok)
		if err == nil && !ok {
			err = ErrInUse
		}
	} else {
		_, err = conn.Exec(ctx, "SELECT pg_advisory_lock_shared($1, hashtext(current_schema()))", useLockClass)
	}
	if err != nil {
		_ = conn.Close(context.Background())
		if errors.Is(err, ErrInUse) {
			return err
		}
		return fmt.Errorf("postgres: use lock: %w", err)
	}
	s.useConn = conn
	return nil
}
