package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/keyward/keyward/internal/netpolicy"
	"github.com/keyward/keyward/internal/server"
)

func version() string { return "keyward " + server.Version }

// options are serve's settings: flags over environment over config file.
type options struct {
	Data           string `json:"data"`
	Listen         string `json:"listen"`
	Store          string `json:"store"`
	TrustedProxies string `json:"trusted_proxies"`
	Account        string `json:"account"`
	TokenTTL       string `json:"token_ttl"`
	BcryptWorkers  int    `json:"bcrypt_workers"`
	LogLevel       string `json:"log_level"`
	storeOptions
}

func loadOptions(name string, args []string, stderr io.Writer) (options, *flag.FlagSet, error) {
	o := options{Data: "./keyward-data", Listen: "127.0.0.1:8080", Account: "default", TokenTTL: "8m", LogLevel: "info"}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFile := fs.String("config", os.Getenv("KEYWARD_CONFIG"), "JSON config file")
	fs.String("data", "", "data folder (SQLite database and master key)")
	fs.String("listen", "", "listen address")
	fs.String("store", "", "postgres:// URL of a shared store (default: SQLite in the data folder)")
	fs.String("trusted-proxies", "", "comma-separated CIDRs of proxies whose X-Forwarded-For is trusted (default: loopback)")
	fs.String("account", "", "default account name")
	fs.String("token-ttl", "", "access token lifetime (e.g. 8m)")
	fs.Int("bcrypt-workers", 0, "concurrent password checks (default: half the cores)")
	fs.String("log-level", "", "debug, info, warn or error")
	addStoreFlags(fs)
	if err := fs.Parse(args); err != nil {
		return o, fs, err
	}
	if *cfgFile != "" {
		b, err := os.ReadFile(*cfgFile)
		if err != nil {
			return o, fs, fmt.Errorf("read config: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&o); err != nil {
			return o, fs, fmt.Errorf("config %s: %w", *cfgFile, err)
		}
		if dec.More() {
			return o, fs, fmt.Errorf("config %s: data after the JSON object", *cfgFile)
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	apply := func(flagName string, dst *string) {
		env := "KEYWARD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
		if v := os.Getenv(env); v != "" {
			*dst = v
		}
		if set[flagName] {
			*dst = fs.Lookup(flagName).Value.String()
		}
	}
	apply("data", &o.Data)
	apply("listen", &o.Listen)
	apply("store", &o.Store)
	apply("trusted-proxies", &o.TrustedProxies)
	apply("account", &o.Account)
	apply("token-ttl", &o.TokenTTL)
	apply("log-level", &o.LogLevel)
	if err := o.applyStore(apply); err != nil {
		return o, fs, err
	}
	bw := strconv.Itoa(o.BcryptWorkers)
	apply("bcrypt-workers", &bw)
	// Each worker holds an OS thread of its own: bound them by the cores.
	maxWorkers := 4 * runtime.NumCPU()
	n, err := strconv.Atoi(bw)
	if err != nil || n < 0 || n > maxWorkers {
		return o, fs, fmt.Errorf("bcrypt-workers must be an integer from 0 (half the cores) to %d (4 per core)", maxWorkers)
	}
	o.BcryptWorkers = n
	return o, fs, nil
}

func (o options) config(log *slog.Logger) (server.Config, error) {
	cfg := server.Config{DataDir: o.Data, Listen: o.Listen, StoreURL: o.Store, Account: o.Account, BcryptWorkers: o.BcryptWorkers, Logger: log}
	if o.TrustedProxies != "" {
		ps, err := netpolicy.ParseCIDRs(strings.Split(o.TrustedProxies, ","))
		if err != nil {
			return cfg, fmt.Errorf("trusted-proxies: %w", err)
		}
		cfg.TrustedProxies = ps
	} else {
		cfg.TrustedProxies = netpolicy.DefaultTrusted()
	}
	ttl, err := time.ParseDuration(o.TokenTTL)
	if err != nil || ttl <= 0 {
		return cfg, fmt.Errorf("token-ttl: %q is not a positive duration", o.TokenTTL)
	}
	cfg.TokenTTL = ttl
	if err := o.configureStore(&cfg); err != nil {
		return cfg, err
	}
	for _, env := range []string{"KEYWARD_AUTHENTICATORS", "CONJUR_AUTHENTICATORS"} {
		if v, ok := os.LookupEnv(env); ok {
			list := []string{}
			for _, a := range strings.Split(v, ",") {
				if a = strings.TrimSpace(a); a != "" {
					list = append(list, a)
				}
			}
			cfg.EnvAuthenticators = list
			break
		}
	}
	return cfg, nil
}

func logger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// isNewDataDir reports whether a data folder is missing or empty.
func isNewDataDir(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("read data folder: %w", err)
	}
	return len(entries) == 0, nil
}

type initAnswer struct {
	Account string `json:"account"`
	Login   string `json:"login"`
	APIKey  string `json:"api_key"`
}

func cmdInit(args []string, stdout, stderr io.Writer) int {
	o, _, err := loadOptions("init", args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "keyward init:", err)
		return 2
	}
	cfg, err := o.config(logger(o.LogLevel, stderr))
	if err != nil {
		fmt.Fprintln(stderr, "keyward init:", err)
		return 2
	}
	ctx := context.Background()
	if cfg.StoreURL == "" {
		fresh, err := isNewDataDir(cfg.DataDir)
		if err != nil {
			fmt.Fprintln(stderr, "keyward init:", err)
			return 1
		}
		if !fresh {
			fmt.Fprintf(stderr, "keyward init: %s is not empty; it is already initialised (nothing was changed)\n", cfg.DataDir)
			return 1
		}
	}
	key, err := initialise(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "keyward init:", err)
		return 1
	}
	_ = json.NewEncoder(stdout).Encode(initAnswer{Account: cfg.Account, Login: "admin", APIKey: key})
	fmt.Fprintf(stderr, "keyward: initialised %s with account %q; the admin API key above is shown once\n", cfg.DataDir, cfg.Account)
	return 0
}

func initialise(ctx context.Context, cfg server.Config) (string, error) {
	s, err := server.Open(ctx, cfg, true)
	if err != nil {
		return "", err
	}
	defer s.Close()
	done, err := s.Core.Initialized(ctx)
	if err != nil {
		return "", err
	}
	if done {
		return "", errors.New("the store is already initialised (nothing was changed)")
	}
	return s.Init(ctx, cfg.Account)
}

func cmdServe(args []string, stdout, stderr io.Writer) int {
	o, _, err := loadOptions("serve", args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "keyward serve:", err)
		return 2
	}
	log := logger(o.LogLevel, stderr)
	cfg, err := o.config(log)
	if err != nil {
		fmt.Fprintln(stderr, "keyward serve:", err)
		return 2
	}
	// bcrypt workers run on their own locked, deprioritised threads; while
	// they work, each gets a P of its own so cheap requests keep every
	// core's P.
	cfg.LendProcs = true
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := server.Open(ctx, cfg, cfg.StoreURL == "")
	if err != nil {
		fmt.Fprintln(stderr, "keyward serve:", err)
		return 1
	}
	defer s.Close()
	done, err := s.Core.Initialized(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "keyward serve:", err)
		return 1
	}
	if !done && cfg.StoreURL != "" {
		fmt.Fprintln(stderr, "keyward serve:", uninitialisedStore)
		return 1
	}
	if !done {
		key, err := s.Init(ctx, cfg.Account)
		if err != nil {
			fmt.Fprintln(stderr, "keyward serve: initialise:", err)
			return 1
		}
		_ = json.NewEncoder(stdout).Encode(initAnswer{Account: cfg.Account, Login: "admin", APIKey: key})
		fmt.Fprintf(stderr, "keyward: initialised %s; the admin API key above is shown once\n", filepath.Clean(cfg.DataDir))
	}
	go server.TuneGC(ctx, server.GCFloor)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fmt.Fprintln(stderr, "keyward serve:", err)
		return 1
	}
	log.Info("keyward listening", "addr", ln.Addr().String(), "version", server.Version)
	if err := s.Serve(ctx, ln); err != nil {
		fmt.Fprintln(stderr, "keyward serve:", err)
		return 1
	}
	log.Info("keyward stopped")
	return 0
}

func cmdAuditVerify(args []string, stdout, stderr io.Writer) int {
	o, _, err := loadOptions("audit verify", args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "keyward audit verify:", err)
		return 2
	}
	cfg, err := o.config(logger("error", stderr))
	if err != nil {
		fmt.Fprintln(stderr, "keyward audit verify:", err)
		return 2
	}
	if cfg.StoreURL == "" {
		if _, err := os.Stat(filepath.Join(cfg.DataDir, server.DBFile)); err != nil {
			fmt.Fprintf(stderr, "keyward audit verify: no keyward database in %s\n", cfg.DataDir)
			return 1
		}
	}
	ctx := context.Background()
	st, shared, err := server.OpenStoreToRead(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "keyward audit verify:", err)
		return 1
	}
	defer st.Close()
	if shared {
		fmt.Fprintln(stderr, "keyward audit verify: a running keyward holds this folder; verifying the records it has written to the table (the last few milliseconds of records may still be in its journal)")
	}
	c, err := st.VerifyAudit(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "keyward audit verify:", err)
		return 1
	}
	switch {
	case c.Broken != 0:
		fmt.Fprintf(stdout, "audit chain BROKEN at record %d: %s\n", c.Broken, c.Why)
		return 1
	case c.Unkeyed != 0:
		// Their SHA-256 chain holds, but anyone who can write the folder
		// could have rewritten them and chained them again: not "intact".
		fmt.Fprintf(stdout, "audit chain NOT AUTHENTICATED: %d records; records 1-%d are unkeyed (written before the chain was keyed), "+
			"their hash chain holds but proves nothing against whoever can write the data folder; the %d keyed records after them verify. "+
			"Run `keyward audit rekey` once (server stopped) to key them.\n", c.Records, c.Unkeyed, c.Records-c.Unkeyed)
		return 1
	case c.Records == 0:
		fmt.Fprintln(stdout, "audit chain empty")
		return 0
	}
	fmt.Fprintf(stdout, "audit chain intact: %d records, all keyed\n", c.Records)
	return 0
}

// cmdAuditRekey is keyward audit rekey: the whole chain chained again
// under the master key, for a chain with records from before it was keyed.
func cmdAuditRekey(args []string, stdout, stderr io.Writer) int {
	o, _, err := loadOptions("audit rekey", args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "keyward audit rekey:", err)
		return 2
	}
	cfg, err := o.config(logger(o.LogLevel, stderr))
	if err != nil {
		fmt.Fprintln(stderr, "keyward audit rekey:", err)
		return 2
	}
	if cfg.StoreURL == "" {
		if _, err := os.Stat(filepath.Join(cfg.DataDir, server.DBFile)); err != nil {
			fmt.Fprintf(stderr, "keyward audit rekey: no keyward database in %s\n", cfg.DataDir)
			return 1
		}
	}
	c, err := server.RekeyAudit(context.Background(), cfg, cfg.Account)
	if err != nil {
		fmt.Fprintln(stderr, "keyward audit rekey:", err)
		return 1
	}
	fmt.Fprintf(stdout, "audit chain rekeyed: %d records chained again under the master key (%d were unkeyed), and recorded as audit.rekey\n",
		c.Records, c.Unkeyed)
	return 0
}
