package main

// serve's and init's start-up: everything that can be checked is checked,
// and the port bound, before anything is created; a fresh SQLite folder is
// built beside (or inside) its target and moved into place at the end, so a
// failed start leaves nothing behind; the first admin key goes to a
// terminal, or to DATA/initial-admin-key, never to a log.

import (
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
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/keyward/keyward/internal/server"
)

// InitialAdminKeyFile is where serve writes the first admin API key when its
// standard output is not a terminal.
const InitialAdminKeyFile = "initial-admin-key"

// initTempPrefix names the folders a fresh data folder is built in.
const initTempPrefix = ".keyward-init-"

type initAnswer struct {
	Account string `json:"account"`
	Login   string `json:"login"`
	APIKey  string `json:"api_key"`
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// optionsError reports loadOptions' error (nothing for --help, whose usage
// is printed) and returns the exit code.
func optionsError(name string, err error, stderr io.Writer) int {
	if !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stderr, "keyward %s: %v\n", name, err)
	}
	return usageExit(err)
}

// usageExit is the exit code after a flag parse error: 0 for --help.
func usageExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}

// checkDataParent refuses a data folder whose parent does not exist: a typo
// in --data must not start an empty service somewhere new.
func checkDataParent(dir string) error {
	parent := filepath.Dir(filepath.Clean(dir))
	fi, err := os.Stat(parent)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("data folder %s: its parent %s does not exist (keyward creates the data folder, not its parents)", dir, parent)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("permission denied: %s", parent)
	case err != nil:
		return fmt.Errorf("data folder %s: %w", dir, err)
	case !fi.IsDir():
		return fmt.Errorf("data folder %s: %s is not a folder", dir, parent)
	}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return fmt.Errorf("data folder %s is a file, not a folder", dir)
	}
	return nil
}

// checkDataAccess says "permission denied: PATH" for a data folder, or a file
// of keyward's in it, that this user may not use (rather than SQLite's
// "unable to open database file (14)"). write asks for what serve needs;
// without it, what reading needs. A missing folder is not an error here.
func checkDataAccess(dir string, write bool) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	} else if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("permission denied: %s", dir)
	}
	dirMode, fileMode := uint32(unix.R_OK|unix.X_OK), uint32(unix.R_OK)
	if write {
		dirMode, fileMode = unix.R_OK|unix.W_OK|unix.X_OK, unix.R_OK|unix.W_OK
	}
	if err := unix.Access(dir, dirMode); errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
		return fmt.Errorf("permission denied: %s", dir)
	}
	for _, name := range []string{server.MasterKeyFile, server.DBFile, server.DBFile + "-wal", server.DBFile + "-shm",
		server.DBFile + "-audit1", server.DBFile + "-audit2"} {
		p := filepath.Join(dir, name)
		if err := unix.Access(p, fileMode); errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
			return fmt.Errorf("permission denied: %s", p)
		}
	}
	return nil
}

// isNewDataDir reports whether a data folder is missing or empty (but for
// what an interrupted init left, which it removes).
func isNewDataDir(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	if errors.Is(err, os.ErrPermission) {
		return false, fmt.Errorf("permission denied: %s", dir)
	}
	if err != nil {
		return false, fmt.Errorf("read data folder: %w", err)
	}
	n := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), initTempPrefix) {
			_ = os.RemoveAll(filepath.Join(dir, e.Name()))
			continue
		}
		n++
	}
	return n == 0, nil
}

// initFolder initialises a fresh SQLite data folder all at once: it builds
// the store in a temporary folder beside the target (inside it when the
// target exists, empty: it may be a mount point) and moves it into place
// last, the database file last of all. On error nothing is left.
func initFolder(ctx context.Context, cfg server.Config) (string, error) {
	dir := filepath.Clean(cfg.DataDir)
	_, statErr := os.Stat(dir)
	exists := statErr == nil
	var tmp string
	var err error
	if exists {
		if err := server.SecureDataDir(dir, cfg.Logger); err != nil {
			return "", err
		}
		tmp, err = os.MkdirTemp(dir, initTempPrefix)
	} else {
		tmp, err = os.MkdirTemp(filepath.Dir(dir), initTempPrefix+filepath.Base(dir)+"-")
	}
	if errors.Is(err, os.ErrPermission) {
		return "", fmt.Errorf("permission denied: %s", filepath.Dir(tmp+"/x"))
	}
	if err != nil {
		return "", fmt.Errorf("create data folder: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = os.RemoveAll(tmp)
		}
	}()
	tcfg := cfg
	tcfg.DataDir = tmp
	tcfg.Logger = slog.New(slog.DiscardHandler)
	s, err := server.Open(ctx, tcfg, true)
	if err != nil {
		return "", err
	}
	key, err := s.Init(ctx, cfg.Account)
	if cerr := s.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	if !exists {
		if err := os.Rename(tmp, dir); err != nil {
			return "", fmt.Errorf("move the new data folder into place: %w", err)
		}
		done = true
		syncDir(filepath.Dir(dir))
		return key, nil
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return "", err
	}
	var last []string
	for _, e := range entries {
		if e.Name() == server.DBFile {
			last = append(last, e.Name())
			continue
		}
		if err := os.Rename(filepath.Join(tmp, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			return "", fmt.Errorf("move %s into place: %w", e.Name(), err)
		}
	}
	for _, name := range last {
		if err := os.Rename(filepath.Join(tmp, name), filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("move %s into place: %w", name, err)
		}
	}
	syncDir(dir)
	return key, nil
}

// syncDir makes a folder's entries durable.
func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		_ = f.Sync()
		_ = f.Close()
	}
}

func cmdInit(args []string, stdout, stderr io.Writer) int {
	o, fs, err := loadOptions("init", args, stdout, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "keyward init:", err)
		}
		return usageExit(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "keyward init: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	cfg, err := o.config(logger(o, stderr))
	if err == nil {
		err = server.ValidateAccount(cfg.Account)
	}
	if err != nil {
		fmt.Fprintf(stderr, "keyward init: --account %q: %v\n", cfg.Account, err)
		return exitUsage
	}
	ctx := context.Background()
	var key string
	if cfg.StoreURL == "" {
		err := checkDataParent(cfg.DataDir)
		if err == nil {
			err = checkDataAccess(cfg.DataDir, true)
		}
		if err != nil {
			fmt.Fprintln(stderr, "keyward init:", err)
			return exitFail
		}
		fresh, err := isNewDataDir(cfg.DataDir)
		if err != nil {
			fmt.Fprintln(stderr, "keyward init:", err)
			return exitFail
		}
		if !fresh {
			fmt.Fprintf(stderr, "keyward init: %s is not empty; it is already initialised (nothing was changed)\n", cfg.DataDir)
			return exitFail
		}
		key, err = initFolder(ctx, cfg)
		if err != nil {
			fmt.Fprintln(stderr, "keyward init:", err)
			return exitFail
		}
	} else {
		key, err = initialise(ctx, cfg)
		if err != nil {
			fmt.Fprintln(stderr, "keyward init:", err)
			return exitFail
		}
	}
	_ = json.NewEncoder(stdout).Encode(initAnswer{Account: cfg.Account, Login: "admin", APIKey: key})
	fmt.Fprintf(stderr, "keyward: initialised %s with account %q; the admin API key above is shown once\n", cfg.DataDir, cfg.Account)
	return exitOK
}

// initialise bootstraps a shared (PostgreSQL) store.
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

// deliverAdminKey hands the first admin key to the operator: printed on a
// terminal, else written to DATA/initial-admin-key (0600) with a log line
// saying where, so that it never lands in a log collector.
func deliverAdminKey(cfg server.Config, key string, stdout io.Writer, stderr io.Writer, log *slog.Logger) error {
	if isTerminal(stdout) {
		_ = json.NewEncoder(stdout).Encode(initAnswer{Account: cfg.Account, Login: "admin", APIKey: key})
		fmt.Fprintf(stderr, "keyward: initialised %s; the admin API key above is shown once\n", filepath.Clean(cfg.DataDir))
		return nil
	}
	p := filepath.Join(cfg.DataDir, InitialAdminKeyFile)
	// A shared store may run without a data folder of its own yet.
	if err := os.Mkdir(cfg.DataDir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("write the initial admin key: %w (recover the admin with keyward admin recover)", err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write the initial admin key: %w (recover the admin with keyward admin recover)", err)
	}
	_ = f.Chmod(0o600)
	_, err = fmt.Fprintln(f, key)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write the initial admin key: %w", err)
	}
	log.Warn("initialised: the admin API key is in a file readable only by keyward's user; read it, keep it safe, then delete the file",
		"path", p, "account", cfg.Account, "login", "admin")
	return nil
}

func cmdServe(args []string, stdout, stderr io.Writer) int {
	o, fs, err := loadOptions("serve", args, stdout, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "keyward serve:", err)
		}
		return usageExit(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "keyward serve: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	log := logger(o, stderr)
	cfg, err := o.config(log)
	if err == nil {
		if verr := server.ValidateAccount(cfg.Account); verr != nil {
			err = fmt.Errorf("--account %q: %w", cfg.Account, verr)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "keyward serve:", err)
		return exitUsage
	}
	var tlsFiles *server.TLS
	switch {
	case o.TLSCert != "" || o.TLSKey != "":
		if tlsFiles, err = server.NewTLS(server.TLSFiles{Cert: o.TLSCert, Key: o.TLSKey, ClientCA: o.ClientCA}); err != nil {
			fmt.Fprintln(stderr, "keyward serve:", err)
			return exitUsage
		}
	case o.ClientCA != "":
		fmt.Fprintln(stderr, "keyward serve: --client-ca needs --tls-cert and --tls-key")
		return exitUsage
	}
	if cfg.StoreURL == "" {
		err := checkDataParent(cfg.DataDir)
		if err == nil {
			err = checkDataAccess(cfg.DataDir, true)
		}
		if err != nil {
			fmt.Fprintln(stderr, "keyward serve:", err)
			return exitFail
		}
	}
	// The port before anything is created: a port in use or a bad address
	// leaves no data folder and no admin key behind.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fmt.Fprintf(stderr, "keyward serve: listen on %s: %v (nothing was created)\n", cfg.Listen, unwrapOpError(err))
		return exitFail
	}
	defer ln.Close()
	var metricsLn net.Listener
	if cfg.MetricsListen != "" {
		if metricsLn, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			fmt.Fprintf(stderr, "keyward serve: metrics-listen on %s: %v (nothing was created)\n", cfg.MetricsListen, unwrapOpError(err))
			return exitFail
		}
		defer metricsLn.Close()
	}
	// bcrypt workers run on their own locked, deprioritised threads; while
	// they work, each gets a P of its own so cheap requests keep every
	// core's P.
	cfg.LendProcs = true
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var firstKey string
	if cfg.StoreURL == "" {
		fresh, err := isNewDataDir(cfg.DataDir)
		if err != nil {
			fmt.Fprintln(stderr, "keyward serve:", err)
			return exitFail
		}
		if fresh {
			if firstKey, err = initFolder(ctx, cfg); err != nil {
				fmt.Fprintln(stderr, "keyward serve: initialise:", err)
				return exitFail
			}
		}
	}
	// With --store, serve never initialises nor makes a master key
	// (keyward init --store does, once).
	s, err := server.Open(ctx, cfg, false)
	if err != nil {
		fmt.Fprintln(stderr, "keyward serve:", err)
		return exitFail
	}
	defer s.Close()
	if cfg.StoreURL != "" {
		done, err := s.Core.Initialized(ctx)
		if err != nil {
			fmt.Fprintln(stderr, "keyward serve:", err)
			return exitFail
		}
		if !done {
			fmt.Fprintln(stderr, "keyward serve:", uninitialisedStore)
			return exitFail
		}
	}
	if firstKey != "" {
		if err := deliverAdminKey(cfg, firstKey, stdout, stderr, log); err != nil {
			fmt.Fprintln(stderr, "keyward serve:", err)
			return exitFail
		}
	}
	go server.TuneGC(ctx, server.GCFloor)
	if metricsLn != nil {
		go func() {
			if err := s.ServeMetrics(ctx, metricsLn); err != nil {
				log.Error("metrics listener stopped", "err", err)
			}
		}()
		log.Info("keyward metrics listening", "addr", metricsLn.Addr().String())
	}
	scheme := "http"
	if tlsFiles != nil {
		scheme = "https"
		go reloadOnHUP(ctx, tlsFiles, log)
	}
	log.Info("keyward listening", "addr", ln.Addr().String(), "scheme", scheme, "version", server.Version)
	if tlsFiles != nil {
		err = s.ServeTLS(ctx, ln, tlsFiles)
	} else {
		err = s.Serve(ctx, ln)
	}
	if err != nil {
		fmt.Fprintln(stderr, "keyward serve:", err)
		return exitFail
	}
	log.Info("keyward stopped")
	return exitOK
}

// reloadOnHUP reads the TLS files again on each SIGHUP until ctx ends.
func reloadOnHUP(ctx context.Context, t *server.TLS, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := t.Reload(); err != nil {
				log.Error("TLS reload failed; still serving the previous certificate", "err", err)
				continue
			}
			log.Info("TLS certificate reloaded")
		}
	}
}

// unwrapOpError drops net.OpError's repetition of the address.
func unwrapOpError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}
