package sqlstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/store"
)

// UseSignatureNonce records (keyID, nonce) until until: one INSERT … ON
// CONFLICT DO NOTHING, so of concurrent callers on any instance exactly one
// inserts it. An expired entry of the same pair is deleted first in the
// same transaction (its ts window has passed, so reusing it replays
// nothing), and now and then every expired entry.
func (s *Store) UseSignatureNonce(ctx context.Context, keyID, nonce string, until, now time.Time) (bool, error) {
	nowMS := now.UnixMilli()
	won := false
	err := s.db.Write(ctx, TxOptions{Isolation: ReadCommitted}, func(q Querier) error {
		won = false
		if rand.IntN(purgeOdds) == 0 {
			if _, err := q.Exec(ctx, "DELETE FROM signature_nonces WHERE expires_ms <= $1", nowMS); err != nil {
				return err
			}
		} else if _, err := q.Exec(ctx, "DELETE FROM signature_nonces WHERE key_id = $1 AND nonce = $2 AND expires_ms <= $3",
			keyID, nonce, nowMS); err != nil {
			return err
		}
		n, err := q.Exec(ctx, "INSERT INTO signature_nonces (key_id, nonce, expires_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
			keyID, nonce, until.UnixMilli())
		won = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("use signature nonce: %w", err)
	}
	return won, nil
}

// RaiseSignatureSession is one upsert: a new or idle session starts at ts;
// a live one is raised unless ts is more than skew below its highest.
func (s *Store) RaiseSignatureSession(ctx context.Context, ss store.SignatureSession, ts int64, skew, idle time.Duration, now time.Time) (bool, error) {
	nowMS := now.UnixMilli()
	idleBefore := nowMS - idle.Milliseconds()
	won := false
	err := s.db.Write(ctx, TxOptions{Isolation: ReadCommitted}, func(q Querier) error {
		won = false
		return queryAll(ctx, q, func(r Rows) error { won = true; return nil },
			`INSERT INTO signature_sessions (key_id, account, principal_id, high_ts, last_ms) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (key_id) DO UPDATE SET
				high_ts = CASE WHEN signature_sessions.last_ms <= $6 OR excluded.high_ts > signature_sessions.high_ts
					THEN excluded.high_ts ELSE signature_sessions.high_ts END,
				last_ms = excluded.last_ms, account = excluded.account, principal_id = excluded.principal_id
			WHERE signature_sessions.last_ms <= $6 OR excluded.high_ts >= signature_sessions.high_ts - $7
			RETURNING key_id`, ss.KeyID, ss.Account, ss.PrincipalID, ts, nowMS, idleBefore, skew.Milliseconds())
	})
	if err != nil {
		return false, fmt.Errorf("raise signature session: %w", err)
	}
	return won, nil
}

// ForgetSignatureSessions deletes the principal's sessions.
func (s *Store) ForgetSignatureSessions(ctx context.Context, account, principalID string, ev func(n int) audit.Event) (int, error) {
	var n int64
	var fresh Names
	err := s.db.Write(ctx, TxOptions{Isolation: ReadCommitted, LockAudit: !s.pending}, func(q Querier) error {
		fresh = Names{} // a backend may run this again
		var err error
		n, err = q.Exec(ctx, "DELETE FROM signature_sessions WHERE account = $1 AND principal_id = $2", account, principalID)
		if err != nil {
			return err
		}
		return s.appendAudit(ctx, q, []audit.Event{ev(int(n))}, fresh)
	})
	if err == nil {
		s.Remember(fresh)
	}
	if err != nil {
		return 0, fmt.Errorf("forget signature sessions: %w", err)
	}
	return int(n), nil
}
