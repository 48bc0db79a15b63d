package sqlite

import (
	"testing"

	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/store/storetest"
)

// Review 20b findings 1, 2 and 2b on SQLite.
func TestPruneLaundering(t *testing.T) {
	storetest.RunPruneLaundering(t, func(t *testing.T) (store.Store, storetest.Exec) {
		s := openTemp(t)
		return s, func(q string, args ...any) error { return rawExec(s, q, args...) }
	})
}

func TestInterruptedPruneRecorded(t *testing.T) {
	storetest.RunInterruptedPrune(t, func(t *testing.T) (store.Store, storetest.Exec) {
		s := openTemp(t)
		return s, func(q string, args ...any) error { return rawExec(s, q, args...) }
	})
}

func TestHeadRollback(t *testing.T) {
	storetest.RunHeadRollback(t, func(t *testing.T) (store.Store, storetest.Exec) {
		s := openTemp(t)
		return s, func(q string, args ...any) error { return rawExec(s, q, args...) }
	})
}
