package sqlstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// purgeOdds: one UseOnce call in purgeOdds also deletes expired nonces, so
// the table stays bounded without a background job.
const purgeOdds = 256

// UseOnce records key until expires. Inserting it, or taking over an expired
// entry, is one atomic statement, so of concurrent callers on any instance
// exactly one gets true.
func (s *Store) UseOnce(ctx context.Context, key string, expires time.Time) (bool, error) {
	now := s.db.Time(time.Now())
	won := false
	err := s.db.Write(ctx, TxOptions{Isolation: ReadCommitted}, func(q Querier) error {
		won = false
		if rand.IntN(purgeOdds) == 0 {
			if _, err := q.Exec(ctx, "DELETE FROM nonces WHERE expires <= $1", now); err != nil {
				return err
			}
		}
		err := queryAll(ctx, q, func(r Rows) error { won = true; return nil },
			`INSERT INTO nonces (key, expires) VALUES ($1, $2)
			ON CONFLICT (key) DO UPDATE SET expires = excluded.expires WHERE nonces.expires <= $3
			RETURNING key`, key, s.db.Time(expires), now)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("use once: %w", err)
	}
	return won, nil
}
