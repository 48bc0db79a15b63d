package main

// keyward's settings, in one table. Each setting is a flag (--name), an
// environment variable (KEYWARD_NAME, dashes as underscores) and a key of
// the JSON config file (name, dashes as underscores); a flag beats the
// environment, which beats the file, which beats the default. A docs
// generator walks settingsTable; a new setting is one row here plus a field
// of options (and its use in options.config).

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// scope says which commands take a setting.
type scope uint8

const (
	scopeStore   scope = 1 << iota // every command that opens the store: serve, init, account add, audit verify|rekey, admin recover
	scopeAccount                   // commands that name an account: serve, init, account add
	scopeServe                     // serve only
)

// commandScopes are the scopes each store command takes.
var commandScopes = map[string]scope{
	"serve":         scopeStore | scopeAccount | scopeServe,
	"init":          scopeStore | scopeAccount,
	"account add":   scopeStore | scopeAccount,
	"audit verify":  scopeStore,
	"audit rekey":   scopeStore | scopeAccount,
	"audit prune":   scopeStore,
	"audit export":  scopeStore,
	"admin recover": scopeStore | scopeAccount,
}

// setting is one row of settingsTable.
type setting struct {
	Name    string // the flag's name; the environment variable and config key derive from it
	Default string // as the flag's default; "" for none
	Help    string
	Scope   scope
	Bool    bool                             // a boolean flag: --name means true, --name=false false
	Set     func(o *options, v string) error // parses v into o; v is never "" unless Default is ""
}

// Env is the setting's environment variable.
func (s setting) Env() string {
	return "KEYWARD_" + strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
}

// Key is the setting's key in the JSON config file.
func (s setting) Key() string { return strings.ReplaceAll(s.Name, "-", "_") }

// options are the settings' parsed values.
type options struct {
	Data           string
	Listen         string
	Store          string
	TrustedProxies string
	Account        string
	TokenTTL       string
	BcryptWorkers  int
	LogLevel       string
	LogFormat      string // text or json; "" until resolved (text on a terminal)
	AccessLog      bool
	TLSCert        string
	TLSKey         string
	ClientCA       string
	AuditRetention string
	ReplayEntries  int
	LoginMaxWait   time.Duration
	MetricsListen  string
	storeOptions   // store_flags.go
}

func str(dst func(o *options) *string) func(o *options, v string) error {
	return func(o *options, v string) error { *dst(o) = v; return nil }
}

// settingsTable is every setting of every command, in the order --help shows them.
var settingsTable = []setting{
	{Name: "data", Default: "./keyward-data", Scope: scopeStore,
		Help: "data folder (SQLite database, audit journal, master key); its parent must exist",
		Set:  str(func(o *options) *string { return &o.Data })},
	{Name: "store", Scope: scopeStore,
		Help: "postgres:// URL of a shared store (default: SQLite in the data folder)",
		Set:  str(func(o *options) *string { return &o.Store })},
	{Name: "log-level", Default: "info", Scope: scopeStore,
		Help: "debug, info, warn or error",
		Set: func(o *options, v string) error {
			var l slog.Level
			if err := l.UnmarshalText([]byte(v)); err != nil || !knownLevel(v) {
				return fmt.Errorf("log-level: %q is not one of debug, info, warn, error", v)
			}
			o.LogLevel = strings.ToLower(v)
			return nil
		}},
	{Name: "log-format", Scope: scopeStore,
		Help: "text or json (default: text when standard error is a terminal, else json)",
		Set: func(o *options, v string) error {
			switch v {
			case "", "text", "json":
				o.LogFormat = v
				return nil
			}
			return fmt.Errorf("log-format: %q is not text or json", v)
		}},
	{Name: "account", Default: "default", Scope: scopeAccount,
		Help: "account name: the default account, or the one to create (letters, digits, '.', '_', '-')",
		Set:  str(func(o *options) *string { return &o.Account })},
	{Name: "listen", Default: "127.0.0.1:8080", Scope: scopeServe,
		Help: "listen address host:port",
		Set:  str(func(o *options) *string { return &o.Listen })},
	{Name: "tls-cert", Scope: scopeServe,
		Help: "PEM certificate (chain) file: serve HTTPS only, reloaded on SIGHUP; needs --tls-key",
		Set:  str(func(o *options) *string { return &o.TLSCert })},
	{Name: "tls-key", Scope: scopeServe,
		Help: "PEM private key file of --tls-cert, reloaded on SIGHUP",
		Set:  str(func(o *options) *string { return &o.TLSKey })},
	{Name: "audit-retention", Scope: scopeServe,
		Help: "prune audit records older than this (e.g. 2160h; default: keep every record)",
		Set:  str(func(o *options) *string { return &o.AuditRetention })},
	{Name: "client-ca", Scope: scopeServe,
		Help: "PEM file of CA certificates: request client certificates and verify those given against it (reloaded on SIGHUP)",
		Set:  str(func(o *options) *string { return &o.ClientCA })},
	{Name: "trusted-proxies", Scope: scopeServe,
		Help: "comma-separated CIDRs of proxies whose X-Forwarded-For is trusted (default: loopback)",
		Set:  str(func(o *options) *string { return &o.TrustedProxies })},
	{Name: "token-ttl", Default: "8m", Scope: scopeServe,
		Help: "access token lifetime",
		Set:  str(func(o *options) *string { return &o.TokenTTL })},
	{Name: "bcrypt-workers", Default: "0", Scope: scopeServe,
		Help: "concurrent password checks (0: half the cores)",
		Set: func(o *options, v string) error {
			// Each worker holds an OS thread of its own: bound them by the cores.
			maxWorkers := 4 * runtime.NumCPU()
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > maxWorkers {
				return fmt.Errorf("bcrypt-workers must be an integer from 0 (half the cores) to %d (4 per core)", maxWorkers)
			}
			o.BcryptWorkers = n
			return nil
		}},
	{Name: "replay-cache-entries", Default: "0", Scope: scopeServe,
		Help: "signed-request nonces kept in memory with SQLite (0: 1000000); when full, signed requests get 503",
		Set: func(o *options, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("replay-cache-entries: %q is not a whole number", v)
			}
			o.ReplayEntries = n
			return nil
		}},
	{Name: "login-max-wait", Default: "2s", Scope: scopeServe,
		Help: "refuse a password login with 429 and Retry-After when its expected wait for bcrypt (queue × bcrypt time ÷ workers) is longer",
		Set: func(o *options, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return fmt.Errorf("login-max-wait: %q is not a positive duration", v)
			}
			o.LoginMaxWait = d
			return nil
		}},
	{Name: "metrics-listen", Scope: scopeServe,
		Help: "serve /metrics on this host:port instead of the main listener",
		Set:  str(func(o *options) *string { return &o.MetricsListen })},
	{Name: "access-log", Default: "true", Scope: scopeServe, Bool: true,
		Help: "log one line per request at info level",
		Set: func(o *options, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("access-log: %q is not true or false", v)
			}
			o.AccessLog = b
			return nil
		}},
}

func knownLevel(v string) bool {
	switch strings.ToLower(v) {
	case "debug", "info", "warn", "error":
		return true
	}
	return false
}

// settingValue is a setting's flag.Value: a string, or a boolean flag.
type settingValue struct {
	v      string
	isBool bool
}

func (s *settingValue) String() string {
	if s == nil {
		return ""
	}
	return s.v
}
func (s *settingValue) Set(v string) error {
	if s.isBool {
		if _, err := strconv.ParseBool(v); err != nil {
			return errors.New("not true or false")
		}
	}
	s.v = v
	return nil
}
func (s *settingValue) IsBoolFlag() bool { return s.isBool }

// commandSettings are the settings a command takes.
func commandSettings(name string) []setting {
	sc := commandScopes[name]
	var out []setting
	for _, s := range settingsTable {
		if s.Scope&sc != 0 {
			out = append(out, s)
		}
	}
	return out
}

// newSettingsFlags defines the command's settings (and --config) on fs.
func newSettingsFlags(name string, fs *flag.FlagSet) (cfgFile *string, vals map[string]*settingValue) {
	cfgFile = fs.String("config", "", "JSON config file (default $KEYWARD_CONFIG); keys as the flags with '_' for '-'")
	vals = map[string]*settingValue{}
	for _, s := range commandSettings(name) {
		v := &settingValue{v: s.Default, isBool: s.Bool}
		vals[s.Name] = v
		help := s.Help + " (env " + s.Env() + ")"
		fs.Var(v, s.Name, help)
	}
	return cfgFile, vals
}

// loadOptions parses a store command's flags over the environment over the
// config file over the defaults. name is the command (see commandScopes).
// --help prints the command's usage and flags on stdout and returns
// flag.ErrHelp.
func loadOptions(name string, args []string, stdout, stderr io.Writer) (options, *flag.FlagSet, error) {
	var o options
	fs := flag.NewFlagSet("keyward "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFile, vals := newSettingsFlags(name, fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\nFlags of keyward %s:\n", strings.TrimRight(commandUsage[name], "\n"), name)
		fs.PrintDefaults()
	}
	if wantsHelp(args) {
		fs.SetOutput(stdout)
		fs.Usage()
		return o, fs, flag.ErrHelp
	}
	if err := fs.Parse(args); err != nil {
		return o, fs, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	// Defaults, then the file, then the environment, then the flags.
	val := map[string]string{}
	for _, s := range commandSettings(name) {
		val[s.Name] = s.Default
	}
	file := *cfgFile
	if !set["config"] {
		file = os.Getenv("KEYWARD_CONFIG")
	}
	if file != "" {
		fromFile, err := readConfigFile(file)
		if err != nil {
			return o, fs, err
		}
		for k, v := range fromFile {
			if _, ok := val[k]; ok {
				val[k] = v
			}
		}
	}
	for _, s := range commandSettings(name) {
		if v := os.Getenv(s.Env()); v != "" {
			val[s.Name] = v
		}
		if set[s.Name] {
			val[s.Name] = vals[s.Name].v
		}
		if err := s.Set(&o, val[s.Name]); err != nil {
			return o, fs, err
		}
	}
	return o, fs, nil
}

// readConfigFile reads a JSON config file: one object whose keys are
// settings (any command's: one file serves them all) with string, number or
// boolean values.
func readConfigFile(file string) (map[string]string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("config %s: %w", file, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("config %s: data after the JSON object", file)
	}
	known := map[string]string{}
	for _, s := range settingsTable {
		known[s.Key()] = s.Name
	}
	out := map[string]string{}
	for k, v := range raw {
		name, ok := known[k]
		if !ok {
			return nil, fmt.Errorf("config %s: unknown setting %q", file, k)
		}
		switch v := v.(type) {
		case string:
			out[name] = v
		case json.Number:
			out[name] = v.String()
		case bool:
			out[name] = strconv.FormatBool(v)
		default:
			return nil, fmt.Errorf("config %s: %q must be a string, number or boolean", file, k)
		}
	}
	return out, nil
}

// wantsHelp reports whether args ask for help (-h, --help) before any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// commandUsage is each store command's usage line and summary.
var commandUsage = map[string]string{
	"serve": `Usage: keyward serve [flags]
Runs the service. Every flag can also be set as its environment variable or
in the JSON config file (--config). SIGTERM stops gracefully; SIGHUP reloads
the TLS certificate, key and client CA.`,
	"init": `Usage: keyward init --data DIR [--account NAME]
Initialises a data folder (or a --store) and prints {"account","login","api_key"}
once. A failed init leaves nothing behind.`,
	"account add": `Usage: keyward account add --data DIR --account NAME
Creates another account (server stopped) and prints its admin's API key once.`,
	"audit verify": `Usage: keyward audit verify --data DIR
Checks the keyed hash chain of the audit log (beside a running server too).`,
	"audit rekey": `Usage: keyward audit rekey --data DIR
Once, server stopped: keys records written before the chain was keyed.`,
	"admin recover": `Usage: keyward admin recover --data DIR [--account NAME]
For a lost admin key (server stopped): a new admin API key, printed once; the
old one stops working; audited as admin.recover by operator.`,
}
