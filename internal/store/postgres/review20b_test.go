package postgres

import (
	"context"
	"testing"

	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/store/storetest"
)

// Review 20b findings 1, 2 and 2b on PostgreSQL.
func TestPruneLaundering(t *testing.T) {
	testDSN(t)
	storetest.RunPruneLaundering(t, func(t *testing.T) (store.Store, storetest.Exec) {
		s := openFresh(t)
		return s, func(q string, args ...any) error {
			_, err := s.db.pool.Exec(context.Background(), q, args...)
			return err
		}
	})
}

func TestInterruptedPruneRecorded(t *testing.T) {
	testDSN(t)
	storetest.RunInterruptedPrune(t, func(t *testing.T) (store.Store, storetest.Exec) {
		s := openFresh(t)
		return s, func(q string, args ...any) error {
			_, err := s.db.pool.Exec(context.Background(), q, args...)
			return err
		}
	})
}

func TestHeadRollback(t *testing.T) {
	testDSN(t)
	storetest.RunHeadRollback(t, func(t *testing.T) (store.Store, storetest.Exec) {
		s := openFresh(t)
		return s, func(q string, args ...any) error {
			_, err := s.db.pool.Exec(context.Background(), q, args...)
			return err
		}
	})
}
