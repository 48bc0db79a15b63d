package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"

	"modernc.org/sqlite"
)

// Backup copies the database at path to the new file to with SQLite's
// online backup API, beside a keyward that may be serving from it: one
// backup step over a read transaction copies every page of one snapshot
// (WAL lets the writer go on meanwhile), so the copy is consistent. Records
// a running keyward still holds in its audit journal (the last few
// milliseconds') are not in the table and so not in the copy. The copy is
// checked with PRAGMA quick_check; it returns its size in pages.
func Backup(ctx context.Context, path, to string) (int, error) {
	if strings.ContainsAny(to, "?#") || to == "" {
		return 0, fmt.Errorf("backup to %q: the file name must be non-empty and free of '?' and '#'", to)
	}
	if _, err := os.Stat(path); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	// The copy holds secrets (sealed) and the audit: the owner's only. It
	// must be new, so no backup is overwritten by mistake.
	f, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	f.Close()
	pages, err := backup(ctx, path, to)
	if err != nil {
		os.Remove(to)
		return 0, err
	}
	return pages, nil
}

func backup(ctx context.Context, path, to string) (int, error) {
	src, err := sql.Open("sqlite", path+"?_pragma=query_only(1)&_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	defer src.Close()
	c, err := src.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("backup: open %s: %w", path, err)
	}
	defer c.Close()
	var pages int
	err = c.Raw(func(dc any) error {
		bc, ok := dc.(interface {
			NewBackup(string) (*sqlite.Backup, error)
		})
		if !ok {
			return errors.New("the SQLite driver has no backup API")
		}
		b, err := bc.NewBackup(to)
		if err != nil {
			return err
		}
		// All pages in one step: a step that stopped half way would start
		// over whenever the serving keyward writes, which it does all the
		// time.
		_, err = b.Step(-1)
		pages = b.PageCount()
		if ferr := b.Finish(); err == nil {
			err = ferr
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("backup %s to %s: %w", path, to, err)
	}
	dst, err := sql.Open("sqlite", to+"?_pragma=query_only(1)")
	if err != nil {
		return 0, fmt.Errorf("check the backup: %w", err)
	}
	defer dst.Close()
	var ok string
	if err := dst.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&ok); err != nil || ok != "ok" {
		return 0, fmt.Errorf("check the backup: quick_check says %q (%v)", ok, err)
	}
	return pages, nil
}
