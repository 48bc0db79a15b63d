package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/keyward/keyward/internal/server"
)

const adminUsage0 = `Usage:
  keyward admin recover --data DIR [--account NAME] [--store postgres://…]

For a lost admin key: gives the account's built-in admin a new API key in
place of the one init printed (which stops working), prints it once, and
audits it (event admin.recover, actor operator). Run it with the server
stopped: a folder a running keyward holds, or a --store database any
running keyward serves, is refused ("in use"). It also removes
DATA/initial-admin-key.

Access to the data folder (and its master key) is admin access: recover
needs nothing else. Only the built-in admin's own key is replaced: the
admin's other API keys and its issued tokens keep working (list them with
keyward apikey list --user admin), and a disabled or restricted admin stays
so.
`

func cmdAdminGroup(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, adminUsage0)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, adminUsage0)
		return exitOK
	case "recover":
		return cmdAdminRecover(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "keyward admin: unknown subcommand %q\n\n%s", args[0], adminUsage0)
	return exitUsage
}

func cmdAdminRecover(args []string, stdout, stderr io.Writer) int {
	o, fs, err := loadOptions("admin recover", args, stdout, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "keyward admin recover:", err)
		}
		return usageExit(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "keyward admin recover: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	cfg, err := o.config(logger(o, stderr))
	if err != nil {
		fmt.Fprintln(stderr, "keyward admin recover:", err)
		return exitUsage
	}
	if cfg.StoreURL == "" {
		if err := checkDataAccess(cfg.DataDir, true); err != nil {
			fmt.Fprintln(stderr, "keyward admin recover:", err)
			return exitFail
		}
		if _, err := os.Stat(filepath.Join(cfg.DataDir, server.DBFile)); err != nil {
			fmt.Fprintf(stderr, "keyward admin recover: no keyward database in %s\n", cfg.DataDir)
			return exitFail
		}
	}
	ctx := context.Background()
	// A running keyward keeps the admin's keys in memory: recover needs the
	// store to itself (a shared store's running servers hold its use lock).
	cfg.Alone = true
	s, err := server.Open(ctx, cfg, false)
	if errors.Is(err, server.ErrInUse) {
		what := cfg.DataDir
		if cfg.StoreURL != "" {
			what = "the store"
		}
		fmt.Fprintf(stderr, "keyward admin recover: %s is in use by a running keyward; stop every instance first (nothing was changed)\n", what)
		return exitFail
	}
	if err != nil {
		fmt.Fprintln(stderr, "keyward admin recover:", err)
		return exitFail
	}
	key, err := s.RecoverAdmin(ctx, cfg.Account)
	if cerr := s.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(stderr, "keyward admin recover:", err)
		return exitFail
	}
	_ = os.Remove(filepath.Join(cfg.DataDir, InitialAdminKeyFile))
	_ = json.NewEncoder(stdout).Encode(initAnswer{Account: cfg.Account, Login: "admin", APIKey: key})
	fmt.Fprintf(stderr, "keyward: account %q's admin has a new API key, shown once above; the old one no longer works. "+
		"The admin's other API keys and tokens are unchanged: list them with keyward apikey list --user admin\n", cfg.Account)
	return exitOK
}
