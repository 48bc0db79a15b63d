package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/store/sqlite"
)

// ExportOptions are keyward audit export's settings.
type ExportOptions struct {
	Since  int64  // the first sequence number to write (0: the oldest kept)
	Format string // "jsonl" or "rfc5424"
	Follow bool   // keep writing new records until ctx ends
	// AllowGaps: records that went (pruned) between two pages are named
	// on warn, and the export goes on; without it, it stops with an error.
	AllowGaps bool
}

// exportPage is how many records export reads at a time; followEvery how
// often --follow looks for new ones.
const (
	exportPage  = 1000
	followEvery = 500 * time.Millisecond
)

// ExportAudit writes the audit records from o.Since on, oldest first, to
// w; with o.Follow it then waits for new ones until ctx ends. An SQLite
// folder is always read read-only (no lock, no migration, no journal
// replay), so an exporter never keeps keyward from starting: records a
// stopped keyward left in its journal are exported once it has started.
// Notes go to warn.
//
// The stream is checked for continuity: each record must be the one after
// the last written (its seq, and its prev_hash the last written hash).
// Records that went between two reads (a prune while the exporter was
// behind) are named on warn and, unless o.AllowGaps, end the export with an
// error once the records read with them are written; a record whose link
// does not match (the chain was rolled back or rewritten) ends it at once.
func ExportAudit(ctx context.Context, cfg Config, o ExportOptions, w, warn io.Writer) error {
	if o.Format != "jsonl" && o.Format != "rfc5424" {
		return fmt.Errorf("format %q: want jsonl or rfc5424", o.Format)
	}
	st, err := openToExport(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	bw := bufio.NewWriter(w)
	host, _ := os.Hostname()
	from, first := o.Since, true
	var lastSeq int64 // the last record written (0: none yet)
	var lastHash string
	for {
		recs, err := st.AuditSince(ctx, from, exportPage)
		if err != nil {
			bw.Flush()
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if first && len(recs) > 0 && recs[0].Seq > max(o.Since, 1) {
			fmt.Fprintf(warn, "keyward audit export: records before %d were pruned; starting at %d\n", recs[0].Seq, recs[0].Seq)
		}
		first = first && len(recs) == 0
		var gap error
		for i := range recs {
			r := &recs[i]
			if lastSeq != 0 {
				switch {
				case r.Seq > lastSeq+1:
					fmt.Fprintf(warn, "keyward audit export: records %d-%d were removed (pruned) before they could be exported\n", lastSeq+1, r.Seq-1)
					if !o.AllowGaps && gap == nil {
						gap = fmt.Errorf("records %d-%d were removed before they could be exported (--allow-gaps goes on past such gaps)", lastSeq+1, r.Seq-1)
					}
				case r.Seq != lastSeq+1 || r.PrevHash != lastHash:
					bw.Flush()
					msg := fmt.Sprintf("record %d does not follow record %d as exported (its previous-hash link differs): "+
						"the chain was rolled back or rewritten since; run keyward audit verify", r.Seq, lastSeq)
					fmt.Fprintln(warn, "keyward audit export: "+msg)
					return errors.New(msg)
				}
			}
			if o.Format == "jsonl" {
				b, err := json.Marshal(r)
				if err != nil {
					return err
				}
				bw.Write(b)
				bw.WriteByte('\n')
			} else {
				bw.WriteString(RFC5424(r, host))
			}
			lastSeq, lastHash = r.Seq, r.Hash
		}
		if len(recs) > 0 {
			from = recs[len(recs)-1].Seq + 1
		}
		if gap != nil {
			bw.Flush()
			return gap
		}
		if len(recs) == exportPage {
			continue
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		if !o.Follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(followEvery):
		}
	}
}

// openToExport opens the store to read the audit: an SQLite folder
// read-only, whether a keyward holds it or not.
func openToExport(ctx context.Context, cfg Config) (store.Store, error) {
	if cfg.StoreURL != "" {
		st, _, err := OpenStoreToRead(ctx, cfg)
		return st, err
	}
	key, err := auditKey(cfg, false)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(cfg.DataDir, DBFile)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no keyward database in %s: %w", cfg.DataDir, err)
	}
	return sqlite.OpenReadOnly(ctx, path, key)
}

// RFC5424 renders r as one RFC 5424 syslog line, with the structured data
// elements Conjur's audit uses (subject, auth, client, action, under
// CyberArk's enterprise number 43868, so SIEM rules written for Conjur read
// them) and keyward's own (seq, hashes, account, key id, request id) under
// keyward@32473 (RFC 5612's documentation number: keyward has no private
// enterprise number). Facility authpriv (10); severity info for a success,
// warning for a failure. MSGID is the event.
func RFC5424(r *audit.Record, host string) string {
	var b strings.Builder
	pri := 10*8 + 6
	if r.Outcome != audit.Success {
		pri = 10*8 + 4
	}
	fmt.Fprintf(&b, "<%d>1 %s %s keyward - %s ", pri, r.Time.UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
		syslogToken(host, 255), syslogToken(r.Event.Event, 32))
	sd := func(id string, kv ...string) {
		var some bool
		for i := 1; i < len(kv); i += 2 {
			some = some || kv[i] != ""
		}
		if !some {
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
	actor := r.Actor
	if actor == "" {
		actor = "-"
	}
	msg := actor + " " + r.Event.Event + " " + r.Outcome
	if r.Reason != "" {
		msg += " (" + r.Reason + ")"
	}
	if r.Subject != "" && r.Subject != r.Actor {
		msg += " on " + r.Subject
	}
	if r.Detail != "" {
		msg += ": " + r.Detail
	}
	b.WriteString(" " + escapeControls(msg) + "\n")
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

// sdEscape escapes a structured-data parameter value (RFC 5424 6.3.3),
// and its control characters as escapeControls does.
func sdEscape(s string) string {
	return escapeControls(strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`).Replace(s))
}

// escapeControls writes the characters that could break a line or drive a
// terminal (C0 and C1 controls, DEL, U+2028 and U+2029: attacker's text,
// such as an unknown login, reaches the line) as \n, \r, \t or \uXXXX.
func escapeControls(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, c := range s {
		switch {
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case isControl(c):
			fmt.Fprintf(&b, `\u%04X`, c)
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

func isControl(c rune) bool {
	return c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == '\u2028' || c == '\u2029'
}
