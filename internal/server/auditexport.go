package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/audit"
)

// ExportOptions are keyward audit export's settings.
type ExportOptions struct {
	Since  int64  // the first sequence number to write (0: the oldest kept)
	Format string // "jsonl" or "rfc5424"
	Follow bool   // keep writing new records until ctx ends
}

// exportPage is how many records export reads at a time; followEvery how
// often --follow looks for new ones.
const (
	exportPage  = 1000
	followEvery = 500 * time.Millisecond
)

// ExportAudit writes the audit records from o.Since on, oldest first, to
// w; with o.Follow it then waits for new ones until ctx ends. An SQLite
// folder a running keyward holds is read beside it. Notes go to warn.
func ExportAudit(ctx context.Context, cfg Config, o ExportOptions, w, warn io.Writer) error {
	if o.Format != "jsonl" && o.Format != "rfc5424" {
		return fmt.Errorf("format %q: want jsonl or rfc5424", o.Format)
	}
	st, _, err := OpenStoreToRead(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	bw := bufio.NewWriter(w)
	host, _ := os.Hostname()
	from, first := o.Since, true
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
		for i := range recs {
			r := &recs[i]
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
		}
		if len(recs) > 0 {
			from = recs[len(recs)-1].Seq + 1
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
