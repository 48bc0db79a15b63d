package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/netpolicy"
	"github.com/keyward/keyward/internal/server"
)

func version() string { return "keyward " + server.Version }

func (o options) config(log *slog.Logger) (server.Config, error) {
	cfg := server.Config{DataDir: o.Data, Listen: o.Listen, StoreURL: o.Store, Account: o.Account, BcryptWorkers: o.BcryptWorkers, Logger: log,
		AccessLog: o.AccessLog, ReplayEntries: o.ReplayEntries, LoginMaxWait: o.LoginMaxWait, MetricsListen: o.MetricsListen}
	if o.Store != "" {
		u, err := url.Parse(o.Store)
		if err != nil {
			// Never echo the URL: it may hold a password.
			return cfg, errors.New("store: not a valid postgres:// URL")
		}
		if s := strings.ToLower(u.Scheme); s != "postgres" && s != "postgresql" {
			return cfg, fmt.Errorf("store: %q is not a postgres:// URL", u.Redacted())
		}
	}
	if o.TrustedProxies != "" {
		ps, err := netpolicy.ParseCIDRs(strings.Split(o.TrustedProxies, ","))
		if err != nil {
			return cfg, fmt.Errorf("trusted-proxies: %w", err)
		}
		cfg.TrustedProxies = ps
	} else {
		cfg.TrustedProxies = netpolicy.DefaultTrusted()
	}
	if o.TokenTTL != "" {
		ttl, err := time.ParseDuration(o.TokenTTL)
		if err != nil || ttl <= 0 {
			return cfg, fmt.Errorf("token-ttl: %q is not a positive duration", o.TokenTTL)
		}
		cfg.TokenTTL = ttl
	}
	o.configureStore(&cfg)
	ar, err := auditRetention(o.AuditRetention)
	if err != nil {
		return cfg, err
	}
	cfg.AuditRetention = ar
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

// logger is the command's logger: --log-level and --log-format, text when
// w is a terminal and JSON otherwise unless --log-format says.
func logger(o options, w io.Writer) *slog.Logger {
	return newLogger(o.LogLevel, o.LogFormat, w)
}

func newLogger(level, format string, w io.Writer) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	if format == "" {
		format = "json"
		if isTerminal(w) {
			format = "text"
		}
	}
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func cmdAuditVerify(args []string, stdout, stderr io.Writer) int {
	o, _, err := loadOptions("audit verify", args, stdout, stderr)
	if err != nil {
		return optionsError("audit verify", err, stderr)
	}
	cfg, err := o.config(newLogger("error", o.LogFormat, stderr))
	if err != nil {
		fmt.Fprintln(stderr, "keyward audit verify:", err)
		return 2
	}
	if cfg.StoreURL == "" {
		if err := checkDataAccess(cfg.DataDir, false); err != nil {
			fmt.Fprintf(stderr, "keyward audit verify: %v\n", err)
			return 1
		}
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
		fmt.Fprintf(stdout, "audit chain NOT AUTHENTICATED: %d records; records %d-%d are unkeyed (written before the chain was keyed), "+
			"their hash chain holds but proves nothing against whoever can write the data folder; the %d keyed records after them verify. "+
			"`keyward audit rekey` (server stopped) keys them as they read now: first check them against a backup or an export "+
			"taken before anyone else could write the folder, since rekey would make a forgery among them authentic.\n", c.Records, c.From+1, c.From+c.Unkeyed, c.Records-c.Unkeyed)
		return 1
	case c.Records == 0 && c.From == 0:
		fmt.Fprintln(stdout, "audit chain empty")
		return 0
	case c.From != 0:
		fmt.Fprintf(stdout, "audit chain intact from seq %d (checkpoint): %d records after it, all keyed\n", c.From, c.Records)
	default:
		fmt.Fprintf(stdout, "audit chain intact: %d records, all keyed\n", c.Records)
	}
	if c.Quarantined != 0 {
		// The chain holds, but someone without the master key wrote or
		// altered pending records: never chained, kept for inspection.
		fmt.Fprintf(stdout, "audit pending records REFUSED: %d pending batches failed their MAC (written or altered without the master key); "+
			"never chained, kept in the audit_quarantine table, each marked in the chain by an audit.pending_rejected record\n", c.Quarantined)
		if c.QuarantineMissing != 0 {
			fmt.Fprintf(stdout, "audit quarantine TAMPERED: the chain holds %d audit.pending_rejected records but audit_quarantine only %d rows: "+
				"%d refused batches were deleted from it\n", c.Rejected, c.Rejected-c.QuarantineMissing, c.QuarantineMissing)
		}
		return 1
	}
	return 0
}

// cmdAuditRekey is keyward audit rekey: the whole chain chained again
// under the master key, for a chain with records from before it was keyed.
func cmdAuditRekey(args []string, stdout, stderr io.Writer) int {
	o, _, err := loadOptions("audit rekey", args, stdout, stderr)
	if err != nil {
		return optionsError("audit rekey", err, stderr)
	}
	cfg, err := o.config(logger(o, stderr))
	if err != nil {
		fmt.Fprintln(stderr, "keyward audit rekey:", err)
		return 2
	}
	if cfg.StoreURL == "" {
		if err := checkDataAccess(cfg.DataDir, true); err != nil {
			fmt.Fprintf(stderr, "keyward audit rekey: %v\n", err)
			return 1
		}
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
