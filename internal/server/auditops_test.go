package server_test

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/server"
)

// exportLines runs keyward audit export and returns its stdout lines.
func exportLines(t *testing.T, args ...string) []string {
	t.Helper()
	out, errOut, code := run(t, append([]string{"audit", "export"}, args...)...)
	if code != 0 {
		t.Fatalf("audit export %v exited %d: %s %s", args, code, out, errOut)
	}
	return strings.Split(strings.TrimSuffix(out, "\n"), "\n")
}

type exported struct {
	Seq      int64  `json:"seq"`
	Event    string `json:"event"`
	Outcome  string `json:"outcome"`
	Actor    string `json:"actor"`
	Detail   string `json:"detail"`
	Hash     string `json:"hash"`
	PrevHash string `json:"prev_hash"`
}

func decodeLines(t *testing.T, lines []string) []exported {
	t.Helper()
	var out []exported
	for _, l := range lines {
		var e exported
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.Seq == 0 || len(e.Hash) != 64 {
			t.Fatalf("export line %q: %v", l, err)
		}
		out = append(out, e)
	}
	return out
}

// TestAuditExportAndPrune: export streams the chain beside a running
// server (jsonl with seq and linked hashes, RFC 5424 in Conjur's style,
// --since, --follow); prune with the server running (it prunes on request)
// and stopped leaves a checkpoint that verify proves the rest from.
func TestAuditExportAndPrune(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	admin := initData(t, dir).APIKey
	p := serve(t, dir)
	for range 3 {
		p.do("POST", "/api/v1/api-keys/verify", "", map[string]any{"key": admin})
	}
	p.do("POST", "/api/v1/token", "", map[string]any{"login": "ghost", "password": "Nope-Nope-1234"})
	time.Sleep(100 * time.Millisecond) // the journal reaches the table within ~25 ms

	recs := decodeLines(t, exportLines(t, "--data", dir))
	if len(recs) < 5 || recs[0].Seq != 1 {
		t.Fatalf("export: %+v", recs)
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].Seq != recs[i-1].Seq+1 || recs[i].PrevHash != recs[i-1].Hash {
			t.Fatalf("export records %d and %d do not link: %+v %+v", i-1, i, recs[i-1], recs[i])
		}
	}
	last := recs[len(recs)-1]
	if since := decodeLines(t, exportLines(t, "--data", dir, "--since", "3")); since[0].Seq != 3 || len(since) != len(recs)-2 {
		t.Fatalf("--since 3: %+v", since)
	}
	syslog := exportLines(t, "--data", dir, "--format", "rfc5424", "--since", "2")
	line := regexp.MustCompile(`^<8[46]>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z \S+ keyward - \S+ (\[[a-z]+@\d+( [a-z_]+="([^"\\\]]|\\.)*")+\])+ .+$`)
	for _, l := range syslog {
		if !line.MatchString(l) {
			t.Fatalf("not an RFC 5424 line: %q", l)
		}
	}
	fail := syslog[len(syslog)-1]
	if len(syslog) != len(recs)-1 || !strings.HasPrefix(fail, "<84>") ||
		!strings.Contains(fail, `[action@43868 result="failure" operation="token" reason="unknown_login"]`) ||
		!strings.Contains(fail, `[client@43868 ip="127.0.0.1"]`) || !strings.Contains(fail, `seq="`+itoa(last.Seq)+`"`) {
		t.Fatalf("rfc5424 export, last line %q of %d", fail, len(syslog))
	}
	if _, e, code := run(t, "audit", "export", "--data", dir, "--format", "csv"); code != 2 || !strings.Contains(e, "jsonl or rfc5424") {
		t.Fatalf("--format csv: exit %d %s", code, e)
	}

	// --follow writes the records appended after it started.
	f := exec.Command(keywardBin, "audit", "export", "--data", dir, "--since", itoa(last.Seq+1), "--follow")
	f.Env = cleanEnv()
	fout, err := f.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	defer f.Process.Kill()
	followed := make(chan exported, 10)
	go func() {
		sc := bufio.NewScanner(fout)
		for sc.Scan() {
			var e exported
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				followed <- e
			}
		}
		close(followed)
	}()
	p.do("POST", "/api/v1/api-keys/verify", "", map[string]any{"key": admin})
	select {
	case e := <-followed:
		if e.Seq != last.Seq+1 || e.Event != "apikey.verify" || e.PrevHash != last.Hash {
			t.Fatalf("--follow wrote %+v; want the verify after seq %d", e, last.Seq)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("--follow wrote nothing for a new record")
	}
	f.Process.Signal(syscall.SIGTERM)
	f.Wait()

	// Prune with the server running: it prunes on request.
	out, e, code := run(t, "audit", "prune", "--data", dir, "--before", "0s")
	want := "pruned records 1-" + itoa(last.Seq+1)
	if code != 0 || !strings.Contains(out, want) || !strings.Contains(e, "running keyward") {
		t.Fatalf("prune beside the server exited %d: %s %s; want %q", code, out, e, want)
	}
	out, _, code = run(t, "audit", "verify", "--data", dir)
	if code != 0 || !strings.Contains(out, "audit chain intact from seq "+itoa(last.Seq+1)+" (checkpoint)") {
		t.Fatalf("verify after the prune exited %d: %s", code, out)
	}
	after := decodeLines(t, exportLines(t, "--data", dir))
	if len(after) != 1 || after[0].Event != "audit.prune" || after[0].Actor != "operator" || !strings.Contains(after[0].Detail, "removed records 1-") {
		t.Fatalf("after the prune, export gives %+v; want only the prune's record", after)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.done

	// Stopped: the CLI prunes itself. "1s" is a duration ago.
	time.Sleep(1100 * time.Millisecond)
	out, e, code = run(t, "audit", "prune", "--data", dir, "--before", "1s")
	if code != 0 || !strings.Contains(out, "pruned records "+itoa(last.Seq+2)+"-"+itoa(last.Seq+2)) {
		t.Fatalf("prune of a stopped folder exited %d: %s %s", code, out, e)
	}
	out, _, code = run(t, "audit", "verify", "--data", dir)
	if code != 0 || !strings.Contains(out, "audit chain intact from seq "+itoa(last.Seq+2)+" (checkpoint): 1 records") {
		t.Fatalf("verify after the second prune exited %d: %s", code, out)
	}
	if _, e, code := run(t, "audit", "prune", "--data", dir, "--before", "yesterday"); code != 2 || !strings.Contains(e, "RFC 3339") {
		t.Fatalf("--before yesterday: exit %d %s", code, e)
	}
	if _, e, code := run(t, "audit", "prune", "--data", dir); code != 2 || !strings.Contains(e, "--before is required") {
		t.Fatalf("no --before: exit %d %s", code, e)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestRFC5424Escapes: structured-data values escape '"', '\' and ']', and
// no field of a record can break the line.
func TestRFC5424Escapes(t *testing.T) {
	r := &audit.Record{Seq: 7, Hash: "ab", Event: audit.Event{Time: time.Unix(0, 0), Account: "acme", Event: "token one", Outcome: audit.Failure,
		Reason: "bad_secret", Actor: `acme:user:x"] [evil@1 a="b`, Subject: "acme:user:y\\", ClientIP: "192.0.2.1", Detail: "two\nlines"}}
	got := server.RFC5424(r, "")
	want := `<84>1 1970-01-01T00:00:00.000000Z - keyward - token_one [subject@43868 role="acme:user:y\\"]` +
		`[auth@43868 user="acme:user:x\"\] [evil@1 a=\"b"][client@43868 ip="192.0.2.1"]` +
		`[action@43868 result="failure" operation="token one" reason="bad_secret"][keyward@32473 seq="7" account="acme" hash="ab"] ` +
		`acme:user:x"] [evil@1 a="b token one failure (bad_secret) on acme:user:y\: two\nlines` + "\n"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
