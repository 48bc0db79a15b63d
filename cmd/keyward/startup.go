package main

// serve's and init's start-up: everything that can be checked is checked,
// and the port bound, before anything is created; a fresh SQLite folder is
// built beside (or inside) its target and moved into place at the end, so a
// failed start leaves nothing behind; the first admin key goes to a
// terminal, or to DATA/initial-admin-key, never to a log.

import (
	"context"
	"crypto/rand"
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
const initTempPrefix = server.InitTempPrefix

// setupEntry reports whether a name in a data folder is what init's set-up
// leaves between runs (its lock file, an interrupted init's folder).
func setupEntry(name string) bool {
	return name == server.LockFile || strings.HasPrefix(name, initTempPrefix)
}

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
// what an interrupted init left, which initFolder removes under its lock).
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
	for _, e := range entries {
		if !setupEntry(e.Name()) {
			return false, nil
		}
	}
	return true, nil
}

// errInitialised is initFolder's answer for a folder that, once locked,
// turns out to hold a data folder already.
var errInitialised = errors.New("the data folder is already initialised")

// errInitInUse is initFolder's answer when another keyward is initialising
// or opening the same folder at this moment.
var errInitInUse = errors.New("in use: another keyward (init or serve) is setting it up at this moment; nothing was changed")

// lockDir takes an exclusive, non-blocking flock on the data folder's lock
// file (made 0600 if missing): the lock that every init, and every serve's
// first look, takes on a data folder. The file is inside the folder, which
// is tightened to 0700 before: another user's descriptor of the folder
// itself (opened while it was 0755) can neither reach nor lock it.
func lockDir(dir string) (*os.File, error) {
	p := filepath.Join(dir, server.LockFile)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if errors.Is(err, os.ErrPermission) {
		return nil, fmt.Errorf("permission denied: %s", p)
	}
	if err != nil {
		return nil, fmt.Errorf("data folder %s: lock file: %w", dir, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock file %s: %w", p, err)
	}
	if int(st.Uid) != os.Geteuid() || st.Mode&unix.S_IFMT != unix.S_IFREG {
		f.Close()
		return nil, fmt.Errorf("lock file %s is not a file of keyward's user (uid %d): refused", p, os.Geteuid())
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", dir, errInitInUse)
		}
		return nil, fmt.Errorf("lock data folder %s: %w", dir, err)
	}
	return f, nil
}

// renameNoReplace moves a file to a name that must not exist: what is there
// (another process's file) is never replaced.
func renameNoReplace(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// A file system without RENAME_NOREPLACE: link fails on an
		// existing name just the same.
		if err = os.Link(from, to); err == nil {
			err = os.Remove(from)
		}
	}
	if err != nil {
		return fmt.Errorf("move %s into place: %w", filepath.Base(to), err)
	}
	return nil
}

// initFolder initialises a fresh SQLite data folder all at once. It
// creates the folder (0700) if missing, locks it (errInitInUse when another
// keyward holds it), and then, only if the folder is still empty
// (errInitialised otherwise), builds the store in a temporary folder inside
// it and moves the files into place, the database last, never replacing
// one. On error nothing is left: the temporary folder, and the folder itself
// if it made it, are removed before the lock goes.
func initFolder(ctx context.Context, cfg server.Config) (string, error) {
	dir := filepath.Clean(cfg.DataDir)
	created := false
	switch err := os.Mkdir(dir, 0o700); {
	case err == nil:
		created = true
	case errors.Is(err, os.ErrPermission):
		return "", fmt.Errorf("permission denied: %s", filepath.Dir(dir))
	case !errors.Is(err, os.ErrExist):
		return "", fmt.Errorf("create data folder: %w", err)
	}
	var tmp string
	done := false
	defer func() {
		if done {
			return
		}
		if tmp != "" {
			_ = os.RemoveAll(tmp)
		}
		if created {
			_ = os.Remove(dir)
		}
	}()
	// Looked at before anything changes: a folder another user owns, or
	// one holding files but none of keyward's, is refused untouched; then
	// tightened to 0700 before the lock file goes in.
	if err := server.SecureDataDir(dir, cfg.Logger); err != nil {
		return "", err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return "", err
	}
	defer func() {
		// A failed set-up leaves no lock file either (removed while held).
		if !done {
			_ = os.Remove(filepath.Join(dir, server.LockFile))
		}
		lock.Close()
	}()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("read data folder: %w", err)
	}
	names := map[string]bool{}
	for _, e := range entries {
		names[e.Name()] = true
	}
	for _, e := range entries {
		if setupEntry(e.Name()) {
			continue
		}
		done = true
		if names[server.MasterKeyFile] && !names[server.DBFile] {
			// The database is lost, moved away or not mounted: an empty
			// one must not be made and served in its place.
			return "", fmt.Errorf("%s holds %s but no %s: the database is missing (restore it, or mount its volume); "+
				"refused, nothing was created", dir, server.MasterKeyFile, server.DBFile)
		}
		return "", errInitialised
	}
	// What an interrupted init left (nobody else holds the lock).
	for _, e := range entries {
		if e.Name() != server.LockFile {
			_ = os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
	if tmp, err = os.MkdirTemp(dir, initTempPrefix); err != nil {
		return "", fmt.Errorf("create data folder: %w", err)
	}
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
	built, err := os.ReadDir(tmp)
	if err != nil {
		return "", err
	}
	var last []string
	for _, e := range built {
		if e.Name() == server.DBFile {
			last = append(last, e.Name())
			continue
		}
		if err := renameNoReplace(filepath.Join(tmp, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			return "", err
		}
	}
	for _, name := range last {
		if err := renameNoReplace(filepath.Join(tmp, name), filepath.Join(dir, name)); err != nil {
			return "", err
		}
	}
	_ = os.Remove(tmp)
	done = true
	syncDir(dir)
	if created {
		syncDir(filepath.Dir(dir))
	}
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
		if errors.Is(err, errInitialised) {
			fmt.Fprintf(stderr, "keyward init: %s is not empty; it is already initialised (nothing was changed)\n", cfg.DataDir)
			return exitFail
		}
		if err != nil {
			fmt.Fprintln(stderr, "keyward init:", err)
			return exitFail
		}
	} else {
		// The master key is made in the data folder (unless it comes from
		// KEYWARD_MASTER_KEY): never in a folder a typo names.
		if os.Getenv("KEYWARD_MASTER_KEY") == "" {
			if err := checkDataParent(cfg.DataDir); err != nil {
				fmt.Fprintln(stderr, "keyward init:", err)
				return exitFail
			}
		}
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
	if err := writeSecretFile(cfg.DataDir, InitialAdminKeyFile, key+"\n", log); err != nil {
		return fmt.Errorf("write the initial admin key: %w (recover the admin with keyward admin recover)", err)
	}
	log.Warn("initialised: the admin API key is in a file readable only by keyward's user; read it, keep it safe, then delete the file",
		"path", p, "account", cfg.Account, "login", "admin")
	return nil
}

// writeSecretFile writes a secret to dir/name for keyward's user alone: dir
// must be a folder keyward's user owns (it is tightened to 0700, refused if
// another user owns it); the secret goes to a new file made with O_EXCL and
// O_NOFOLLOW (never through a file or link someone planted), checked to be
// ours and 0600, then renamed over name (which replaces a planted entry
// itself, never what it points to).
func writeSecretFile(dir, name, secret string, log *slog.Logger) error {
	if err := server.SecureDataDir(dir, log); err != nil {
		return err
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	tmp := filepath.Join(dir, fmt.Sprintf(".%s-%x", name, rnd))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			_ = os.Remove(tmp)
		}
	}()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return err
	}
	if int(st.Uid) != os.Geteuid() || st.Mode&0o777 != 0o600 {
		return fmt.Errorf("%s: owner uid %d, mode %04o; want keyward's user (uid %d) and 0600", tmp, st.Uid, st.Mode&0o777, os.Geteuid())
	}
	if _, err := io.WriteString(f, secret); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	ok = true
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	syncDir(dir)
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
	// SIGHUP reloads the certificate: caught from here on, so that one sent
	// while the store opens (a renewal hook during a restart) is not the
	// default action, death, but a reload once serving.
	// Caught whatever the listener: without TLS there is nothing to
	// reload, but `systemctl reload` (the contrib unit's ExecReload) or a
	// renewal hook must not kill the service (systemd counts death by
	// SIGHUP as a clean exit and would not restart it).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// A shared store reads its master key from the data folder unless
	// KEYWARD_MASTER_KEY gives it: the folder must then exist (serve never
	// makes it, nor a master key, for a shared store).
	if cfg.StoreURL == "" || os.Getenv("KEYWARD_MASTER_KEY") == "" {
		err := checkDataParent(cfg.DataDir)
		if err == nil && cfg.StoreURL == "" {
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
	ctx, stop := signal.NotifyContext(serveContext(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	beforeOpen()
	var firstKey string
	if cfg.StoreURL == "" {
		// Under initFolder's lock: a new (missing or empty) folder is
		// initialised, and a folder that an init beside us is filling is
		// never opened half-made.
		firstKey, err = initFolder(ctx, cfg)
		if err != nil && !errors.Is(err, errInitialised) {
			fmt.Fprintln(stderr, "keyward serve: initialise:", err)
			return exitFail
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
	}
	go reloadOnHUP(ctx, hup, tlsFiles, log)
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

// Test hooks: the context serve runs under (stopping it stops serve), and
// a call just before the data folder and the store are opened.
var (
	serveContext = context.Background
	beforeOpen   = func() {}
)

// reloadOnHUP reads the TLS files again on each SIGHUP (hup, registered
// since start-up, so one that came while starting is acted on now) until
// ctx ends; without TLS (t nil) it logs that there is nothing to reload.
func reloadOnHUP(ctx context.Context, hup <-chan os.Signal, t *server.TLS, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if t == nil {
				log.Info("SIGHUP: nothing to reload (no TLS); still serving")
				continue
			}
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
