package main

// keyward audit prune and keyward audit export: the audit chain's upkeep,
// on a data folder or a shared store, with or without a running server.

import (
	"bufio"
	"context"
	"encoding/json"
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

	"github.com/keyward/keyward/internal/audit"
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
	o, _, err := loadOptions("audit prune", rest, stderr)
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

const auditExportUsage = `Usage: keyward audit export --data DIR|--store URL [--since SEQ] [--format jsonl|rfc5424] [--follow]

Streams the audit records from sequence number SEQ on (default 0: the oldest
record kept), oldest first, to stdout: one JSON object per line (jsonl, with
seq, hash and prev_hash), or RFC 5424 syslog lines with Conjur's structured
data (rfc5424). --follow keeps the stream open and writes new records as they
are appended. Works beside a running keyward.
`

// exportPage is how many records export reads at a time; followEvery how
// often --follow looks for new ones.
const (
	exportPage  = 1000
	followEvery = 500 * time.Millisecond
)

// cmdAuditExport is keyward audit export.
func cmdAuditExport(args []string, stdout, stderr io.Writer) int {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			fmt.Fprint(stdout, auditExportUsage)
			return 0
		}
	}
	own, rest, err := ownFlags(args, map[string]bool{"since": true, "format": true, "follow": false})
	if err != nil {
		fmt.Fprintln(stderr, "keyward audit export:", err)
		return 2
	}
	o, _, err := loadOptions("audit export", rest, stderr)
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
	st, _, err := server.OpenStoreToRead(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "keyward audit export:", err)
		return 1
	}
	defer st.Close()
	w := bufio.NewWriter(stdout)
	host, _ := os.Hostname()
	write := func(r *audit.Record) error {
		if format == "jsonl" {
			b, err := json.Marshal(r)
			if err != nil {
				return err
			}
			w.Write(b)
			return w.WriteByte('\n')
		}
		_, err := w.WriteString(rfc5424(r, host))
		return err
	}
	from, first := since, true
	for {
		recs, err := st.AuditSince(ctx, from, exportPage)
		if err != nil {
			if ctx.Err() != nil {
				w.Flush()
				return 0
			}
			fmt.Fprintln(stderr, "keyward audit export:", err)
			w.Flush()
			return 1
		}
		if first && len(recs) > 0 && recs[0].Seq > max(since, 1) {
			fmt.Fprintf(stderr, "keyward audit export: records before %d were pruned; starting at %d\n", recs[0].Seq, recs[0].Seq)
		}
		first = first && len(recs) == 0
		for i := range recs {
			if err := write(&recs[i]); err != nil {
				fmt.Fprintln(stderr, "keyward audit export:", err)
				return 1
			}
		}
		if len(recs) > 0 {
			from = recs[len(recs)-1].Seq + 1
		}
		if len(recs) == exportPage {
			continue
		}
		if err := w.Flush(); err != nil {
			return 1 // the reader went away
		}
		if !follow {
			return 0
		}
		select {
		case <-ctx.Done():
			return 0
		case <-time.After(followEvery):
		}
	}
}

func orFalse(s string) string {
	if s == "" {
		return "false"
	}
	return s
}

// rfc5424 renders r as one RFC 5424 syslog line, with the structured data
// elements Conjur's audit uses (subject, auth, client, action, under
// CyberArk's enterprise number 43868, so SIEM rules written for Conjur read
// them) and keyward's own (seq, hashes, key id, request id) under
// keyward@32473 (RFC 5612's documentation number: keyward has none of its
// own). Facility authpriv (10); severity info for a success, warning for a
// failure. MSGID is the event.
func rfc5424(r *audit.Record, host string) string {
	var b strings.Builder
	pri := 10*8 + 6
	if r.Outcome != audit.Success {
		pri = 10*8 + 4
	}
	fmt.Fprintf(&b, "<%d>1 %s %s keyward - %s ", pri, r.Time.UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
		syslogToken(host, 255), syslogToken(r.Event.Event, 32))
	sd := func(id string, kv ...string) {
		var any bool
		for i := 1; i < len(kv); i += 2 {
			any = any || kv[i] != ""
		}
		if !any {
			return
		}
		b.WriteString("[" + id)
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] != "" {
				b.WriteString(" " + kv[i] + `="` + sdEscape(kv[i+1]) + `"`)
			}
		}
		b.WriteString("]")
	}
	sd("subject@43868", "role", r.Subject)
	sd("auth@43868", "user", r.Actor, "authenticator", r.Authenticator)
	sd("client@43868", "ip", r.ClientIP)
	sd("action@43868", "result", r.Outcome, "operation", r.Event.Event, "reason", r.Reason)
	sd("keyward@32473", "seq", strconv.FormatInt(r.Seq, 10), "account", r.Account, "key_id", r.KeyID, "peer_ip", r.PeerIP,
		"request_id", r.RequestID, "prev_hash", r.PrevHash, "hash", r.Hash)
	msg := orDash(r.Actor) + " " + r.Event.Event + " " + r.Outcome
	if r.Reason != "" {
		msg += " (" + r.Reason + ")"
	}
	if r.Subject != "" && r.Subject != r.Actor {
		msg += " on " + r.Subject
	}
	if r.Detail != "" {
		msg += ": " + r.Detail
	}
	b.WriteString(" " + strings.NewReplacer("\n", " ", "\r", " ").Replace(msg) + "\n")
	return b.String()
}

// syslogToken is s as a header field: printable ASCII without spaces, at
// most n long, "-" if empty.
func syslogToken(s string, n int) string {
	out := []byte{}
	for i := 0; i < len(s) && len(out) < n; i++ {
		if c := s[i]; c > 32 && c < 127 {
			out = append(out, c)
		} else {
			out = append(out, '_')
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return string(out)
}

// sdEscape escapes a structured-data parameter value (RFC 5424 6.3.3).
func sdEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`, "\n", " ", "\r", " ").Replace(s)
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
