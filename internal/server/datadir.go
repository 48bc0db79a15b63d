package server

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// dataFiles are the files keyward keeps in its data folder; each holds
// secrets or the audit, so only the owner may read them.
var dataFiles = []string{MasterKeyFile, DBFile, DBFile + "-wal", DBFile + "-shm", DBFile + "-audit1", DBFile + "-audit2"}

// secureDataDir creates the data folder 0700, or tightens an existing one
// that its group or others may enter, and the files of keyward's in it that
// they may read, to the owner only, logging each change. Tightening rather
// than refusing: the folder is keyward's own, and a refused start-up after
// an upgrade would stop a service for a mode an operator never chose
// (mkdir under umask 022 makes 0755).
func secureDataDir(dir string, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	// Looked at before anything is changed: a folder another user owns, or
	// one that holds files but none of keyward's (a typo: /, /home,
	// /var/www), is refused untouched, never chmodded.
	if err := checkOwner(dir); err != nil {
		return err
	}
	if err := CheckKeywardFolder(dir); err != nil {
		return err
	}
	if err := tighten(dir, 0o700, log); err != nil {
		return err
	}
	for _, name := range dataFiles {
		if err := tighten(filepath.Join(dir, name), 0o600, log); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// checkOwner refuses a data folder that another user owns (as OpenSSH's
// StrictModes does): its owner could rename and replace keyward's files in
// it, whatever their modes, and a root keyward would adopt them.
func checkOwner(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := os.Geteuid(); int(st.Uid) != uid {
		return fmt.Errorf("data folder %s is owned by uid %d, not by keyward's user (uid %d): refused, since its owner "+
			"could replace keyward's files in it (chown it to keyward's user, or choose another folder)", dir, st.Uid, uid)
	}
	return nil
}

// LockFile is the file in the data folder that init and serve lock (flock)
// while they look at and set up the folder. A file inside the 0700 folder,
// not the folder itself: a descriptor of the folder that another user
// opened before it was tightened cannot reach it.
const LockFile = ".keyward.lock"

// InitTempPrefix names the folders a fresh data folder is built in.
const InitTempPrefix = ".keyward-init-"

// keywardEntry reports whether a name in the data folder is keyward's
// (one of its files, its lock, or an init's temporary folder).
func keywardEntry(name string) bool {
	if name == LockFile || name == "initial-admin-key" || strings.HasPrefix(name, InitTempPrefix) ||
		strings.HasPrefix(name, ".initial-admin-key-") {
		return true
	}
	for _, f := range dataFiles {
		if name == f {
			return true
		}
	}
	return false
}

// CheckKeywardFolder refuses an existing folder that holds files but none
// of keyward's: it is not a data folder (a typo), and keyward must neither
// change its mode nor put anything in it. A missing or empty folder passes.
func CheckKeywardFolder(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("permission denied: %s", dir)
	}
	if err != nil {
		return fmt.Errorf("read data folder: %w", err)
	}
	if len(entries) == 0 {
		return nil
	}
	for _, e := range entries {
		if keywardEntry(e.Name()) {
			return nil
		}
	}
	return fmt.Errorf("%s is not a keyward data folder: it holds files (such as %s) but no %s or %s; refused, nothing "+
		"was changed (give --data an empty or missing folder, or keyward's own)", dir, entries[0].Name(), MasterKeyFile, DBFile)
}

// tighten takes every permission bit beyond want off path.
func tighten(path string, want fs.FileMode, log *slog.Logger) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	mode := fi.Mode().Perm()
	if mode&^want == 0 {
		return nil
	}
	if err := os.Chmod(path, mode&want); err != nil {
		return fmt.Errorf("data folder: %s is mode %04o, open to group or others, and could not be tightened (run: chmod %04o %s): %w",
			path, mode, want, path, err)
	}
	log.Warn("tightened permissions: the data folder and its files are for keyward's user only", "path", path,
		"was", fmt.Sprintf("%04o", mode), "now", fmt.Sprintf("%04o", mode&want))
	return nil
}

// SecureDataDir tightens an existing data folder and keyward's files in it
// to keyward's user, logging each change (as Open does).
func SecureDataDir(dir string, log *slog.Logger) error { return secureDataDir(dir, log) }

// readMasterKeyFile reads the master key file: a regular file of the key's
// size (a link is followed, as secret mounts use them, but a FIFO or a
// device in its place is refused without blocking on it).
func readMasterKeyFile(p string) ([]byte, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s)", p, fi.Mode().Type())
	}
	if fi.Size() > 1024 {
		return nil, fmt.Errorf("master key %s has the wrong size", p)
	}
	return io.ReadAll(f)
}
