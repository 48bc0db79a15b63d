package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// replaceSection puts body between the markers "<!-- name:begin…-->" and
// "<!-- name:end -->" of doc.
func replaceSection(t *testing.T, doc, name, body string) string {
	t.Helper()
	begin := strings.Index(doc, "<!-- "+name+":begin")
	end := strings.Index(doc, "<!-- "+name+":end -->")
	if begin < 0 || end < begin {
		t.Fatalf("docs/operations.md has no %s markers", name)
	}
	begin += strings.Index(doc[begin:], "-->") + len("-->\n")
	return doc[:begin] + body + doc[end:]
}

func mdCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// settingsMarkdown is the settings table of docs/operations.md.
func settingsMarkdown() string {
	commands := map[scope][]string{}
	for name, sc := range commandScopes {
		for _, bit := range []scope{scopeStore, scopeAccount, scopeServe} {
			if sc&bit != 0 {
				commands[bit] = append(commands[bit], name)
			}
		}
	}
	var b strings.Builder
	b.WriteString("| flag | environment | config key | default | commands | what |\n|---|---|---|---|---|---|\n")
	for _, s := range settingsTable {
		var cmds []string
		for _, bit := range []scope{scopeStore, scopeAccount, scopeServe} {
			if s.Scope&bit != 0 {
				cmds = append(cmds, commands[bit]...)
			}
		}
		sort.Strings(cmds)
		cmds = dedupe(cmds)
		def := "—"
		if s.Default != "" {
			def = "`" + s.Default + "`"
		}
		fmt.Fprintf(&b, "| `--%s` | `%s` | `%s` | %s | %s | %s |\n", s.Name, s.Env(), s.Key(), def, strings.Join(cmds, ", "), mdCell(s.Help))
	}
	return b.String()
}

func dedupe(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func environmentMarkdown() string {
	var b strings.Builder
	b.WriteString("| environment | commands | what |\n|---|---|---|\n")
	for _, e := range environmentOnly {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", e.Name, e.Commands, mdCell(e.Help))
	}
	return b.String()
}

// TestOperationsSettings: docs/operations.md's settings and environment
// tables are what settingsTable and environmentOnly say
// (KEYWARD_UPDATE_DOCS=1 rewrites them), and every KEYWARD_/CONJUR_
// variable the code reads is in one of the two.
func TestOperationsSettings(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "operations.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	want := replaceSection(t, replaceSection(t, doc, "settings", settingsMarkdown()), "environment", environmentMarkdown())
	if os.Getenv("KEYWARD_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	} else if want != doc {
		t.Error("docs/operations.md's settings tables are out of date: run KEYWARD_UPDATE_DOCS=1 go test ./cmd/keyward -run TestOperationsSettings")
	}

	documented := map[string]bool{}
	for _, s := range settingsTable {
		documented[s.Env()] = true
	}
	for _, e := range environmentOnly {
		documented[e.Name] = true
	}
	envRE := regexp.MustCompile(`"((?:KEYWARD|CONJUR)_[A-Z0-9_]+)"`)
	read := map[string]string{}
	for _, dir := range []string{".", filepath.Join("..", "..", "internal")} {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			base := filepath.Base(p)
			if d.IsDir() && strings.HasSuffix(base, "test") && base != "." {
				return filepath.SkipDir // test helper packages (jwttest, storetest…)
			}
			if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			src, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, m := range envRE.FindAllStringSubmatch(string(src), -1) {
				read[m[1]] = p
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(read) < 5 {
		t.Fatalf("found only %d environment variables in the code: %v", len(read), read)
	}
	for name, where := range read {
		if !documented[name] && !strings.HasPrefix(name, "KEYWARD_TEST_") {
			t.Errorf("%s (read in %s) is in neither settingsTable nor environmentOnly, so docs/operations.md misses it", name, where)
		}
	}
}
