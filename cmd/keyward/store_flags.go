package main

import (
	"fmt"
	"runtime"
	"strconv"
	"time"

	"github.com/keyward/keyward/internal/server"
)

// storeOptions are the settings of a shared PostgreSQL store: how long any
// request or background task waits on it, and how many connections it uses.
type storeOptions struct {
	StoreTimeout   time.Duration // 0: the store's default (5 s)
	StoreMaxConns  int           // 0: max(4, cores)
	StoreAuditSync bool          // commit audit-only records synchronously
}

// The store settings join settingsTable from here, so the table's file
// stays the settings issue's.
func init() {
	settingsTable = append(settingsTable,
		setting{Name: "store-timeout", Default: "5s", Scope: scopeStore,
			Help: "longest wait on PostgreSQL of any request or background task (connection, statements, commit); also its statement_timeout",
			Set: func(o *options, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d <= 0 {
					return fmt.Errorf("store-timeout: %q is not a positive duration", v)
				}
				o.StoreTimeout = d
				return nil
			}},
		setting{Name: "store-max-conns", Default: "0", Scope: scopeStore,
			Help: fmt.Sprintf("PostgreSQL pool size (0: max(4, cores) = %d); the change listener is one more connection", max(4, runtime.NumCPU())),
			Set: func(o *options, v string) error {
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 || n > 10000 {
					return fmt.Errorf("store-max-conns must be an integer from 0 (max(4, cores)) to 10000")
				}
				o.StoreMaxConns = n
				return nil
			}},
		setting{Name: "store-audit-sync", Default: "false", Scope: scopeStore, Bool: true,
			Help: "commit the records of authentications, reads and denials to PostgreSQL with synchronous_commit on (flushed to disk before the answer) instead of off (committed and visible before the answer, on disk within PostgreSQL's wal_writer_delay); writes and their records always commit synchronously",
			Set: func(o *options, v string) error {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return fmt.Errorf("store-audit-sync: %q is not true or false", v)
				}
				o.StoreAuditSync = b
				return nil
			}},
	)
}

// configureStore puts the store settings into cfg.
func (so storeOptions) configureStore(cfg *server.Config) {
	cfg.StoreTimeout, cfg.StoreMaxConns, cfg.StoreAuditSync = so.StoreTimeout, so.StoreMaxConns, so.StoreAuditSync
}

// uninitialisedStore is serve's answer to a shared store nobody initialised:
// with --store, serve never initialises (instances starting together would
// each make an admin and a master key).
const uninitialisedStore = "the store at --store is not initialised: run `keyward init --store URL --data DIR --account NAME` once, " +
	"then give every instance a copy of DIR/master.key (or KEYWARD_MASTER_KEY)"
