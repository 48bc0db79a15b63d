package main

import (
	"flag"
	"fmt"
	"runtime"
	"strconv"
	"time"

	"github.com/keyward/keyward/internal/server"
)

// storeOptions are the settings of a shared PostgreSQL store: how long any
// request or background task waits on it, and how many connections it uses.
type storeOptions struct {
	StoreTimeout  string `json:"store_timeout"`
	StoreMaxConns int    `json:"store_max_conns"`
}

func addStoreFlags(fs *flag.FlagSet) {
	fs.String("store-timeout", "", "longest wait on PostgreSQL per request or task, e.g. 5s (default 5s)")
	fs.Int("store-max-conns", 0, fmt.Sprintf("PostgreSQL pool size (default max(4, cores) = %d); the change listener is one more", max(4, runtime.NumCPU())))
}

// applyStore reads the store settings from the environment and flags over
// the config file (apply is loadOptions' precedence rule).
func (so *storeOptions) applyStore(apply func(flagName string, dst *string)) error {
	apply("store-timeout", &so.StoreTimeout)
	n := strconv.Itoa(so.StoreMaxConns)
	apply("store-max-conns", &n)
	v, err := strconv.Atoi(n)
	if err != nil || v < 0 || v > 10000 {
		return fmt.Errorf("store-max-conns must be an integer from 0 (max(4, cores)) to 10000")
	}
	so.StoreMaxConns = v
	return nil
}

// configureStore puts the store settings into cfg.
func (so storeOptions) configureStore(cfg *server.Config) error {
	if so.StoreTimeout != "" {
		d, err := time.ParseDuration(so.StoreTimeout)
		if err != nil || d <= 0 {
			return fmt.Errorf("store-timeout: %q is not a positive duration", so.StoreTimeout)
		}
		cfg.StoreTimeout = d
	}
	cfg.StoreMaxConns = so.StoreMaxConns
	return nil
}

// uninitialisedStore is serve's answer to a shared store nobody initialised:
// with --store, serve never initialises (instances starting together would
// each make an admin).
const uninitialisedStore = "the store at --store is not initialised: run `keyward init --data DIR --store URL --account NAME` once, " +
	"then give every instance a copy of DIR/master.key (or KEYWARD_MASTER_KEY)"
