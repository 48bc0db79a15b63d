package server_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOperationsMetrics: docs/operations.md's metrics table is what the
// server registers (KEYWARD_UPDATE_DOCS=1 rewrites it), and every keyward_
// series a busy server exposes belongs to a documented metric.
func TestOperationsMetrics(t *testing.T) {
	p := newInProcess(t)
	docs := p.s.MetricDocs()
	var b strings.Builder
	b.WriteString("| metric | type | labels | what |\n|---|---|---|---|\n")
	known := map[string]bool{}
	for _, m := range docs {
		known[m.Name] = true
		labels := "—"
		if m.Labels != "" {
			labels = "`" + strings.ReplaceAll(m.Labels, ",", "`, `") + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", m.Name, m.Type, labels, strings.ReplaceAll(m.Help, "|", `\|`))
	}
	for _, want := range []string{"keyward_authentications_total", "keyward_bcrypt_queue_length", "keyward_bcrypt_workers_busy",
		"keyward_bcrypt_wait_seconds", "keyward_bcrypt_refusals_total", "keyward_audit_appended_total", "keyward_audit_journal_backlog",
		"keyward_audit_ingest_failures_total", "keyward_audit_batch_size", "keyward_cache_entries", "keyward_outside_fetches_total",
		"keyward_outside_fetch_seconds"} {
		if !known[want] {
			t.Errorf("the issue's metric %s is not registered", want)
		}
	}
	path := filepath.Join("..", "..", "docs", "operations.md")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	begin := strings.Index(doc, "<!-- metrics:begin")
	end := strings.Index(doc, "<!-- metrics:end -->")
	if begin < 0 || end < begin {
		t.Fatal("docs/operations.md has no metrics markers")
	}
	begin += strings.Index(doc[begin:], "-->") + len("-->\n")
	want := doc[:begin] + b.String() + doc[end:]
	if os.Getenv("KEYWARD_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	} else if want != doc {
		t.Error("docs/operations.md's metrics table is out of date: run KEYWARD_UPDATE_DOCS=1 go test ./internal/server -run TestOperationsMetrics")
	}
	// What a scrape shows is all documented.
	p.json(p.do("POST", "/api/v1/api-keys/verify", "", `{"key":"nope"}`), 200, nil)
	for series := range scrape(t, p.srv.URL) {
		name, _, _ := strings.Cut(series, "{")
		if !strings.HasPrefix(name, "keyward_") {
			continue
		}
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suffix); ok && known[b] {
				base = b
			}
		}
		if !known[base] {
			t.Errorf("%s is exposed but not documented", name)
		}
	}
}
