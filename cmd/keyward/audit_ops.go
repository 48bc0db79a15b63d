package main

// keyward audit prune and keyward audit export: the audit chain's upkeep,
// on a data folder or a shared store, with or without a running server.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/keyward/keyward/internal/server"
)

// ownFlags takes the flags of own (name → whether it takes a value) out of
// args, for a command that adds flags to the ones loadOptions parses.
func ownFlags(args []string, own map[string]bool) (map[string]string, []string, error) {
	got := map[string]string{}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		takes, ok := own[name]
		if !strings.HasPrefix(a, "-") || !ok {
			rest = append(rest, a)
			continue
		}
		switch {
		case hasVal:
		case takes:
			if i+1 >= len(args) {
				return nil, nil, fmt.Errorf("flag needs an argument: --%s", name)
			}
			i++
			val = args[i]
		default:
			val = "true"
		}
		got[name] = val
	}
	return got, rest, nil
}

// parseBefore reads --before: an RFC 3339 time, or a duration ago (720h).
func parseBefore(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		if t.After(now) {
			return time.Time{}, fmt.Errorf("--before %q is in the future: that would remove every record, those written a moment ago included", s)
		}
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--before %q is neither an RFC 3339 time (2026-01-31T00:00:00Z) nor a duration ago (720h)", s)
}

const auditPruneUsage = `Usage: keyward audit prune --data DIR|--store URL --before TIME

Removes the audit records older than TIME (RFC 3339, or a duration ago such as
720h), oldest first and only as a prefix of the chain, after verifying them. A
checkpoint (the last removed record's seq and hash, with a MAC under the master
key) lets audit verify prove the rest; the prune is recorded as audit.prune.
Works with the server running: a running keyward holding DIR prunes on request.
`

// cmdAuditPrune is keyward audit prune.
func cmdAuditPrune(args []string, stdout, stderr io.Writer) int {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			fmt.Fprint(stdout, auditPruneUsage)
			return 0
		}
	}
	own, rest, err := ownFlags(args, map[string]bool{"before": true})
	if err != nil {
		fmt.Fprintln(stderr, "keyward audit prune:", err)
		return 2
	}
	o, _, err := loadOptions("audit prune", rest, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "keyward audit prune:", err)
		return 2
	}
	if own["before"] == "" {
		fmt.Fprint(stderr, "keyward audit prune: --before is required\n\n"+auditPruneUsage)
		return 2
	}
	before, err := parseBefore(own["before"], time.Now())
	if err != nil {
		fmt.Fprintln(stderr, "keyward audit prune:", err)
		return 2
	}
	cfg, err := o.config(newLogger("error", "", stderr))
	if err != nil {
		fmt.Fprintln(stderr, "keyward audit prune:", err)
		return 2
	}
	if cfg.StoreURL == "" {
		if _, err := os.Stat(filepath.Join(cfg.DataDir, server.DBFile)); err != nil {
			fmt.Fprintf(stderr, "keyward audit prune: no keyward database in %s\n", cfg.DataDir)
			return 1
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p, err := server.PruneAudit(ctx, cfg, before)
	if errors.Is(err, server.ErrInUse) {
		fmt.Fprintln(stderr, "keyward audit prune: a running keyward holds this folder; asking it to prune")
		wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		defer cancel()
		p, err = server.RequestPrune(wctx, cfg.DataDir, before)
	}
	if err != nil {
		fmt.Fprintln(stderr, "keyward audit prune:", err)
		return 1
	}
	if p.To == 0 {
		fmt.Fprintf(stdout, "nothing to prune: no record before %s at the start of the chain\n", before.UTC().Format(time.RFC3339))
		return 0
	}
	fmt.Fprintf(stdout, "pruned records %d-%d (before %s); checkpoint seq %d hash %s; recorded as audit.prune\n",
		p.From, p.To, before.UTC().Format(time.RFC3339), p.Checkpoint.Seq, p.Checkpoint.Hash)
	return 0
}

const auditExportUsage = `Usage: keyward audit export --data DIR|--store URL [--since SEQ] [--format jsonl|rfc5424] [--follow] [--allow-gaps]

Streams the audit records from sequence number SEQ on (default 0: the oldest
record kept), oldest first, to stdout: one JSON object per line (jsonl, with
seq, hash and prev_hash), or RFC 5424 syslog lines with Conjur's structured
data (rfc5424). --follow keeps the stream open and writes new records as they
are appended. Works beside a running keyward; a data folder is read
read-only (no lock, no migration), so keyward can start while it runs.
The stream is checked: when records went before they could be written (a
prune while --follow was behind), their range is named on stderr and the
export stops with exit 1, unless --allow-gaps; when the chain no longer
continues from the last record written (rolled back or rewritten), it
stops with exit 1.
`

// cmdAuditExport is keyward audit export.
func cmdAuditExport(args []string, stdout, stderr io.Writer) int {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			fmt.Fprint(stdout, auditExportUsage)
			return 0
		}
	}
	own, rest, err := ownFlags(args, map[string]bool{"since": true, "format": true, "follow": false, "allow-gaps": false})
	if err != nil {
		fmt.Fprintln(stderr, "keyward audit export:", err)
		return 2
	}
	o, _, err := loadOptions("audit export", rest, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "keyward audit export:", err)
		return 2
	}
	var since int64
	if v, ok := own["since"]; ok {
		if since, err = strconv.ParseInt(v, 10, 64); err != nil || since < 0 {
			fmt.Fprintf(stderr, "keyward audit export: --since %q is not a sequence number (0 or more)\n", v)
			return 2
		}
	}
	format := own["format"]
	if format == "" {
		format = "jsonl"
	}
	if format != "jsonl" && format != "rfc5424" {
		fmt.Fprintf(stderr, "keyward audit export: --format %q: want jsonl or rfc5424\n", format)
		return 2
	}
	follow, err := strconv.ParseBool(orFalse(own["follow"]))
	if err != nil {
		fmt.Fprintf(stderr, "keyward audit export: --follow=%q is not a boolean\n", own["follow"])
		return 2
	}
	allowGaps, err := strconv.ParseBool(orFalse(own["allow-gaps"]))
	if err != nil {
		fmt.Fprintf(stderr, "keyward audit export: --allow-gaps=%q is not a boolean\n", own["allow-gaps"])
		return 2
	}
	cfg, err := o.config(newLogger("error", "", stderr))
	if err != nil {
		fmt.Fprintln(stderr, "keyward audit export:", err)
		return 2
	}
	if cfg.StoreURL == "" {
		if _, err := os.Stat(filepath.Join(cfg.DataDir, server.DBFile)); err != nil {
			fmt.Fprintf(stderr, "keyward audit export: no keyward database in %s\n", cfg.DataDir)
			return 1
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := server.ExportAudit(ctx, cfg, server.ExportOptions{Since: since, Format: format, Follow: follow, AllowGaps: allowGaps}, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "keyward audit export:", err)
		return 1
	}
	return 0
}

func orFalse(s string) string {
	if s == "" {
		return "false"
	}
	return s
}

// auditRetention reads --audit-retention: "" or "0" for none, else a
// positive duration of at least an hour.
func auditRetention(s string) (time.Duration, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Hour {
		return 0, fmt.Errorf("audit-retention: %q is not a duration of at least 1h (e.g. 2160h for 90 days), or 0 for none", s)
	}
	return d, nil
}
