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

const accountUsage = `Usage:
  keyward account add --data DIR --account NAME [--store postgres://…]

Creates another account in an initialised store, with its own built-in admin,
and prints the admin's API key once, as init does. Run it with the server
stopped: a folder a running keyward holds is refused ("in use").
`

func cmdAccount(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		w, code := stderr, 2
		if len(args) > 0 {
			w, code = stdout, 0
		}
		fmt.Fprint(w, accountUsage)
		return code
	}
	if args[0] != "add" {
		fmt.Fprintf(stderr, "keyward account: unknown subcommand %q\n\n%s", args[0], accountUsage)
		return 2
	}
	return cmdAccountAdd(args[1:], stdout, stderr)
}

func cmdAccountAdd(args []string, stdout, stderr io.Writer) int {
	o, fs, err := loadOptions("account add", args, stdout, stderr)
	if err != nil {
		return optionsError("account add", err, stderr)
	}
	// The account is named on the command line: KEYWARD_ACCOUNT and the
	// config file name serve's default account, not the one to add.
	named := false
	fs.Visit(func(f *flag.Flag) { named = named || f.Name == "account" })
	if !named || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "keyward account add: --account NAME is required and nothing else may follow\n\n%s", accountUsage)
		return 2
	}
	cfg, err := o.config(logger(o, stderr))
	if err != nil {
		fmt.Fprintln(stderr, "keyward account add:", err)
		return 2
	}
	key, err := addAccount(context.Background(), cfg, o.Account)
	if err != nil {
		fmt.Fprintln(stderr, "keyward account add:", err)
		return 1
	}
	_ = json.NewEncoder(stdout).Encode(initAnswer{Account: o.Account, Login: "admin", APIKey: key})
	fmt.Fprintf(stderr, "keyward: added account %q; its admin API key above is shown once\n", o.Account)
	return 0
}

// addAccount opens an initialised store, as serve does but never creating a
// data folder, database or master key, and bootstraps account in it the way
// init bootstraps the first.
func addAccount(ctx context.Context, cfg server.Config, account string) (string, error) {
	if cfg.StoreURL == "" {
		if err := checkDataAccess(cfg.DataDir, true); err != nil {
			return "", err
		}
		if _, err := os.Stat(filepath.Join(cfg.DataDir, server.DBFile)); err != nil {
			return "", fmt.Errorf("no keyward database in %s; run keyward init first", cfg.DataDir)
		}
	}
	s, err := server.Open(ctx, cfg, false)
	if errors.Is(err, server.ErrInUse) {
		return "", fmt.Errorf("%s is in use by a running keyward; stop it first (nothing was changed)", cfg.DataDir)
	}
	if err != nil {
		return "", err
	}
	defer s.Close()
	done, err := s.Core.Initialized(ctx)
	if err != nil {
		return "", err
	}
	if !done {
		return "", errors.New("the store is not initialised; run keyward init first (nothing was changed)")
	}
	return s.Init(ctx, account)
}
