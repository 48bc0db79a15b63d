package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/store"
)

// Migration is one numbered schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
	// Before and After, if set, run in the migration's transaction before
	// and after its SQL (checks and steps SQL cannot express).
	Before, After func(ctx context.Context, q Querier) error
}

// LoadMigrations reads the files NNNN_name.sql in dir of fsys, in order. The
// numbers must be distinct; they may skip (branches reserve numbers, so a
// 0003 can land before the 0002 of another branch): Migrate applies every
// migration a database has not recorded, not only those above its highest.
func LoadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	var ms []Migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("load migrations: %s is not named NNNN_name.sql", name)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("load migration %s: %w", name, err)
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("load migrations: %s and %s have the same number", ms[i-1].Name, ms[i].Name)
		}
	}
	return ms, nil
}

// Migrate applies the migrations db has not recorded, in order, each in its
// own transaction that also records it in schema_migrations. It refuses,
// with store.ErrSchemaTooNew, a database that recorded a migration this
// binary does not know (a newer keyward's).
func Migrate(ctx context.Context, db DB, ms []Migration, split func(string) []string) error {
	known := map[int]bool{}
	for _, m := range ms {
		known[m.Version] = true
	}
	for _, m := range ms {
		err := db.Write(ctx, TxOptions{Isolation: ReadCommitted, Migrate: true}, func(q Querier) error {
			applied, err := appliedMigrations(ctx, q)
			if err != nil {
				return err
			}
			for _, v := range applied {
				if !known[v] {
					return fmt.Errorf("%w: the database was migrated by a newer keyward (it has migration %d; this keyward knows up to %d): "+
						"run that keyward, or restore the backup taken before the upgrade; nothing was changed", store.ErrSchemaTooNew, v, ms[len(ms)-1].Version)
				}
			}
			if slices.Contains(applied, m.Version) {
				return nil
			}
			if m.Before != nil {
				if err := m.Before(ctx, q); err != nil {
					return fmt.Errorf("apply %s: %w", m.Name, err)
				}
			}
			for _, stmt := range split(m.SQL) {
				if _, err := q.Exec(ctx, stmt); err != nil {
					return fmt.Errorf("apply %s: %w", m.Name, err)
				}
			}
			if m.After != nil {
				if err := m.After(ctx, q); err != nil {
					return fmt.Errorf("apply %s: %w", m.Name, err)
				}
			}
			_, err = q.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
				m.Version, m.Name, time.Now().UTC().Format(TimeLayout))
			return err
		})
		if errors.Is(err, store.ErrSchemaTooNew) {
			return err
		}
		if err != nil {
			return fmt.Errorf("migrate to %d: %w", m.Version, err)
		}
	}
	return nil
}

// appliedMigrations creates schema_migrations if needed and returns the
// versions recorded in it.
func appliedMigrations(ctx context.Context, q Querier) ([]int, error) {
	if _, err := q.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	var vs []int
	err := queryAll(ctx, q, func(r Rows) error {
		var v int64
		err := r.Scan(&v)
		vs = append(vs, int(v))
		return err
	}, "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		return nil, fmt.Errorf("read schema versions: %w", err)
	}
	return vs, nil
}

// SplitStatements splits a migration at semicolons that end a line; the
// migrations keep every statement's closing semicolon at the end of a line.
func SplitStatements(sqlText string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(sqlText, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			if s := strings.TrimSpace(cur.String()); s != ";" {
				out = append(out, s)
			}
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}
