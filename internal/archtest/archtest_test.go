package archtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
)

const module = "github.com/keyward/keyward"

// pkg is what go list says of one package.
type pkg struct {
	ImportPath   string
	Dir          string
	Name         string
	GoFiles      []string
	TestGoFiles  []string
	XTestGoFiles []string
	Imports      []string
	Deps         []string
}

// rel is a package's path inside the module ("internal/core").
func (p pkg) rel() string { return strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/") }

var (
	listOnce sync.Once
	listed   []pkg
	listErr  error
	root     string
)

// packages lists every package of the module once, with direct imports.
func packages(t *testing.T) []pkg {
	t.Helper()
	listOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			listErr = err
			return
		}
		root = filepath.Dir(strings.TrimSpace(string(out)))
		cmd := exec.Command("go", "list", "-json", "./...")
		cmd.Dir = root
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err = cmd.Output()
		if err != nil {
			listErr = err
			t.Logf("go list: %s", stderr.String())
			return
		}
		dec := json.NewDecoder(bytes.NewReader(out))
		for {
			var p pkg
			if err := dec.Decode(&p); err == io.EOF {
				break
			} else if err != nil {
				listErr = err
				return
			}
			listed = append(listed, p)
		}
	})
	if listErr != nil {
		t.Fatalf("go list: %v", listErr)
	}
	if len(listed) < 10 {
		t.Fatalf("go list found only %d packages", len(listed))
	}
	return listed
}

// under reports whether rel is dir or inside it.
func under(rel, dir string) bool { return rel == dir || strings.HasPrefix(rel, dir+"/") }

// ownImports are a package's direct imports inside the module, as rel paths.
func ownImports(p pkg) []string {
	var out []string
	for _, imp := range p.Imports {
		if strings.HasPrefix(imp, module+"/") {
			out = append(out, strings.TrimPrefix(imp, module+"/"))
		}
	}
	return out
}

// isTestHelper: packages whose last element ends in "test" (jwttest,
// storetest…) exist to serve tests and may reach anything they stand in for.
func isTestHelper(rel string) bool {
	return strings.HasSuffix(filepath.Base(rel), "test") && rel != "internal/archtest"
}

// isSurface: the pipeline and every surface, and the console.
func isSurface(rel string) bool { return under(rel, "internal/api") || under(rel, "internal/web") }

// authnShared are packages below internal/authn that are not authenticators
// but code several of them share, each with its reason. An authenticator may
// import them; they keep to an authenticator's own import limits.
var authnShared = map[string]string{
	"internal/authn/jwks": "authn-jwt, authn-oidc, authn-gcp and authn-azure verify tokens against a JWKS the same " +
		"way (fetch, cache, algorithms, registered claims); one copy, not four, so a fix reaches all of them",
}

// isAuthnImpl: internal/authn/<name>, one element below authn, not a helper
// and not shared code.
func isAuthnImpl(rel string) bool {
	rest, ok := strings.CutPrefix(rel, "internal/authn/")
	return ok && !strings.Contains(rest, "/") && !isTestHelper(rel) && authnShared[rel] == ""
}

// isBackend: the store implementations the server chooses between.
func isBackend(rel string) bool {
	for _, b := range []string{"internal/store/sqlite", "internal/store/postgres", "internal/store/sqlstore", "internal/store/cache"} {
		if under(rel, b) && !isTestHelper(rel) {
			return true
		}
	}
	return false
}

// allowed are exceptions to the import rules, each with its reason. An
// entry that no longer matches an import fails too, so the list shrinks.
var allowed = map[[2]string]string{
	{"internal/api/native", "internal/store"}: "the core's list methods (ListPrincipals, ListRoles) take store.Page; " +
		"native builds one from the query. Only that type is used: moving Page to model (the core's call) removes this entry.",
	{"cmd/keyward", "internal/api/native"}: "the admin CLI is a client of the native API and decodes answers with the surface's own " +
		"wire types (ErrorBody, List, Authenticator…), so the shapes cannot drift; it mounts nothing (serve goes through internal/server).",
}

func TestImportRules(t *testing.T) {
	used := map[[2]string]bool{}
	type rule struct {
		name string
		// bad reports why importer must not import imp, or "".
		bad func(importer, imp string) string
	}
	rules := []rule{
		{"surfaces go through the core", func(from, imp string) string {
			if !isSurface(from) {
				return ""
			}
			switch {
			case under(imp, "internal/store"):
				return "a surface reaches storage only through the core, so each constraint and audit record exists once"
			case under(imp, "internal/crypto"):
				return "surfaces never sign or seal: the core issues and checks every credential"
			case isAuthnImpl(imp) || authnShared[imp] != "":
				return "surfaces reach authenticators only through the core"
			}
			return ""
		}},
		{"core stays out of transport and wiring", func(from, imp string) string {
			if from != "internal/core" {
				return ""
			}
			switch {
			case isBackend(imp):
				return "core talks to store.Store; the server picks the backend"
			case isAuthnImpl(imp) || authnShared[imp] != "":
				return "core uses authn interfaces; the server builds implementations from a factory map"
			}
			return ""
		}},
		{"authn is a leaf", func(from, imp string) string {
			if from == "internal/authn" {
				return "internal/authn holds only interfaces and imports nothing of keyward, so no cycle with core"
			}
			return ""
		}},
		{"authenticators import only authn, crypto, netpolicy and shared authn code", func(from, imp string) string {
			if !isAuthnImpl(from) && authnShared[from] == "" {
				return ""
			}
			if imp == "internal/authn" || imp == "internal/crypto" || imp == "internal/netpolicy" {
				return ""
			}
			if authnShared[imp] != "" && authnShared[from] == "" {
				return "" // shared authn code (jwks), listed with its reason in authnShared
			}
			if under(imp, from) && isTestHelper(imp) {
				return "" // its own test helper (jwttest…)
			}
			return "authn/<name> may import only authn, crypto, netpolicy and the shared packages in authnShared"
		}},
		{"only server wires", func(from, imp string) string {
			if from == "internal/server" || isTestHelper(from) || under(from, "test/e2e") {
				return ""
			}
			surfaceImpl := strings.HasPrefix(imp, "internal/api/") && !isTestHelper(imp)
			backend := (under(imp, "internal/store/sqlite") || under(imp, "internal/store/postgres") || under(imp, "internal/store/cache")) && !isTestHelper(imp)
			// Backends share sqlstore, and a backend may wrap another (cache).
			if backend && strings.HasPrefix(from, "internal/store/") {
				return ""
			}
			switch {
			case surfaceImpl && !strings.HasPrefix(from, "internal/api/"):
				return "only internal/server mounts surfaces"
			case backend:
				return "only internal/server opens a backend"
			case isAuthnImpl(imp) && !under(imp, from):
				return "only internal/server builds authenticators"
			}
			return ""
		}},
	}
	for _, p := range packages(t) {
		from := p.rel()
		for _, imp := range ownImports(p) {
			for _, r := range rules {
				why := r.bad(from, imp)
				if why == "" {
					continue
				}
				if reason, ok := allowed[[2]string{from, imp}]; ok && reason != "" {
					used[[2]string{from, imp}] = true
					continue
				}
				t.Errorf("%s imports %s: %s (rule %q)", from, imp, why, r.name)
			}
		}
		if from == "internal/core" && slices.Contains(p.Imports, "net/http") {
			t.Errorf("internal/core imports net/http: a status is the surface's choice, and the pipeline in internal/api keeps core free of HTTP")
		}
	}
	for k := range allowed {
		if !used[k] {
			t.Errorf("allow-list entry %s → %s matches no import; remove it", k[0], k[1])
		}
	}
	for shared := range authnShared {
		if !slices.ContainsFunc(packages(t), func(p pkg) bool { return p.rel() == shared }) {
			t.Errorf("authnShared names %s, which is not a package; remove it", shared)
		}
	}
}

// TestPackageComments: each package says its one job, once.
func TestPackageComments(t *testing.T) {
	fset := token.NewFileSet()
	for _, p := range packages(t) {
		files := p.GoFiles
		if len(files) == 0 {
			files = append(append([]string{}, p.TestGoFiles...), p.XTestGoFiles...)
		}
		var with []string
		for _, f := range files {
			af, err := parser.ParseFile(fset, filepath.Join(p.Dir, f), nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Errorf("%s: %v", f, err)
				continue
			}
			if af.Doc != nil && strings.TrimSpace(af.Doc.Text()) != "" {
				with = append(with, f)
				doc := af.Doc.Text()
				prefix := "Package " + p.Name + " "
				if p.Name == "main" {
					prefix = "Command "
				}
				if !strings.HasPrefix(doc, prefix) {
					t.Errorf("%s/%s: package comment should start %q", p.rel(), f, prefix)
				}
			}
		}
		switch len(with) {
		case 0:
			t.Errorf("%s has no package comment", p.rel())
		case 1:
		default:
			t.Errorf("%s has package comments in %d files %v; keep one", p.rel(), len(with), with)
		}
	}
}

// largeFiles are non-test files allowed over maxLines, each with a reason.
var largeFiles = map[string]string{}

const maxLines = 800

// TestFileSize: a non-test file over 800 lines is doing several jobs.
func TestFileSize(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range packages(t) {
		for _, f := range p.GoFiles {
			rel := filepath.ToSlash(filepath.Join(p.rel(), f))
			n := lineCount(t, filepath.Join(p.Dir, f))
			if n <= maxLines {
				continue
			}
			seen[rel] = true
			if largeFiles[rel] == "" {
				t.Errorf("%s has %d lines (limit %d): split it by concept, or allow-list it with a reason", rel, n, maxLines)
			}
		}
	}
	var stale []string
	for f := range largeFiles {
		if !seen[f] {
			stale = append(stale, f)
		}
	}
	sort.Strings(stale)
	for _, f := range stale {
		t.Errorf("%s is allow-listed as large but is not over %d lines; remove the entry", f, maxLines)
	}
}

func lineCount(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		n++
	}
	return n
}

// TestBinaryHasNoTesting: test code never ships (tailscale deptest).
func TestBinaryHasNoTesting(t *testing.T) {
	packages(t)
	cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "./cmd/keyward")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 20 {
		t.Fatalf("cmd/keyward has only %d deps", len(deps))
	}
	for _, d := range deps {
		if d == "testing" || strings.HasPrefix(d, "testing/") || d == "net/http/httptest" || isTestHelper(strings.TrimPrefix(d, module+"/")) && strings.HasPrefix(d, module) {
			t.Errorf("cmd/keyward depends on %s", d)
		}
	}
}
