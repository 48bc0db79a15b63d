package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/keyward/keyward/internal/server"
)

const backupUsage = `Usage: keyward backup --data DIR --to FILE

Copies DIR's SQLite database to FILE (which must not exist) with SQLite's
online backup API, while keyward serves from DIR or not. The copy is
consistent and checked. It does not hold the master key (DIR/master.key):
keep a copy of that apart; without it the backup cannot be read.

Restore: stop keyward; in the data folder remove keyward.db, keyward.db-wal,
keyward.db-shm, keyward.db-audit1 and keyward.db-audit2; copy FILE to
keyward.db (mode 0600) beside the same master.key; start keyward; run
keyward audit verify --data DIR.
`

// cmdBackup is keyward backup.
func cmdBackup(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, backupUsage) }
	data := fs.String("data", os.Getenv("KEYWARD_DATA"), "data folder")
	to := fs.String("to", "", "backup file to create")
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			fmt.Fprint(stdout, backupUsage)
			return 0
		}
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *to == "" || *data == "" {
		fmt.Fprint(stderr, "keyward backup: --data and --to are required\n\n"+backupUsage)
		return 2
	}
	if _, err := os.Stat(filepath.Join(*data, server.DBFile)); err != nil {
		fmt.Fprintf(stderr, "keyward backup: no keyward database in %s\n", *data)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pages, err := server.Backup(ctx, *data, *to)
	if err != nil {
		fmt.Fprintln(stderr, "keyward backup:", err)
		return 1
	}
	fi, _ := os.Stat(*to)
	var size int64
	if fi != nil {
		size = fi.Size()
	}
	fmt.Fprintf(stdout, "backed up %s to %s (%d pages, %d bytes); the master key is not in it: keep %s apart\n",
		filepath.Join(*data, server.DBFile), *to, pages, size, filepath.Join(*data, server.MasterKeyFile))
	return 0
}
