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

// authnShared are packages below internal/authn that are not authenticators
// but code several of them share, each with its reason.
var authnShared = map[string]string{
	"internal/authn/jwks": "authn-jwt, authn-oidc, authn-gcp and authn-azure verify tokens against a JWKS the same " +
		"way (fetch, cache, algorithms, registered claims); one copy, not four, so a fix reaches all of them",
}

// layer is one row of the declared architecture: which packages it holds,
// and the only packages of the module they may import directly, with why.
type layer struct {
	name string
	has  func(rel string) bool
	// may lists what the layer's packages may import: a package path, or
	// "dir/..." for it and everything under it; "*" for anything.
	may []string
	why string
}

// surfaceNames are the API surfaces under internal/api.
func isSurfacePkg(rel string) bool {
	rest, ok := strings.CutPrefix(rel, "internal/api/")
	return ok && !strings.Contains(rest, "/")
}

func isAuthnImpl(rel string) bool {
	rest, ok := strings.CutPrefix(rel, "internal/authn/")
	return ok && !strings.Contains(rest, "/") && authnShared[rel] == ""
}

func is(paths ...string) func(string) bool {
	return func(rel string) bool { return slices.Contains(paths, rel) }
}

// layers is the architecture, bottom up (docs/architecture.md draws it).
// Every package of the module belongs to exactly one layer; a new package
// without one fails, so the picture cannot drift from the code.
var layers = []layer{
	{"leaves", is("internal/model", "internal/audit", "internal/crypto", "internal/netpolicy", "internal/authn"), nil,
		"record types, the audit event and chain, primitives, address rules and authenticator interfaces import nothing of keyward, " +
			"so every layer above can use them without a cycle"},
	{"public packages", is("pkg/argussig"), nil,
		"the Argus signer clients import: it depends on nothing of keyward, and the core verifies with the same code"},
	{"store interface", is("internal/store"), []string{"internal/model", "internal/audit"},
		"the store's interfaces speak in records and audit events only"},
	{"store backends", is("internal/store/sqlstore", "internal/store/sqlite", "internal/store/postgres"),
		[]string{"internal/store", "internal/store/sqlstore", "internal/model", "internal/audit"},
		"backends implement store.Store, sharing the SQL written once in sqlstore"},
	{"shared authenticator code", func(rel string) bool { return authnShared[rel] != "" }, []string{"internal/authn", "internal/crypto", "internal/netpolicy"},
		"keeps to an authenticator's own limits"},
	{"authenticators", isAuthnImpl, []string{"internal/authn", "internal/crypto", "internal/netpolicy", "internal/authn/jwks"},
		"authn/<name> imports only the interfaces and primitives, so core never needs an implementation and there is no cycle"},
	{"core", is("internal/core"), []string{"internal/store", "internal/crypto", "internal/netpolicy", "internal/audit", "internal/authn", "internal/model", "pkg/argussig"},
		"the rules talk to store.Store and authn interfaces; the server picks backends and builds authenticators"},
	{"pipeline", is("internal/api"), []string{"internal/core", "internal/model"},
		"the pipeline runs every surface's requests through the core; it never touches storage or crypto"},
	{"surfaces", isSurfacePkg, []string{"internal/api", "internal/core", "internal/model"},
		"a surface extracts, renders and calls the core: each constraint and audit record exists once, in the core"},
	{"console", is("internal/console"), []string{"internal/api", "internal/core"},
		"the admin console is a client of the core: sign-in through core.Authenticate, everything else through the native routes"},
	{"wiring", is("internal/server"), []string{"*"}, "internal/server is the only package that sees everything"},
	{"command", is("cmd/keyward"), []string{"internal/server", "internal/netpolicy", "internal/api/native", "internal/audit"},
		"the CLI opens a server or talks to the native API, decoding answers with the surface's own wire types so the shapes cannot drift; audit export formats the audit package's records"},
	{"tools and tests", func(rel string) bool {
		return isTestHelper(rel) || strings.HasPrefix(rel, "test/") || strings.HasPrefix(rel, "bench/") || rel == "internal/archtest"
	}, []string{"*"}, "test helpers, end-to-end tests and benchmark tools stand in for anything; none ships in the binary (TestBinaryHasNoTesting)"},
}

func mayImport(may []string, imp string) bool {
	for _, m := range may {
		if m == "*" || m == imp || strings.HasSuffix(m, "/...") && under(imp, strings.TrimSuffix(m, "/...")) {
			return true
		}
	}
	return false
}

// TestLayers checks every direct import against the declared layers.
func TestLayers(t *testing.T) {
	for _, p := range packages(t) {
		from := p.rel()
		var in []layer
		for _, l := range layers {
			if l.has(from) {
				in = append(in, l)
			}
		}
		if len(in) != 1 {
			t.Errorf("%s is in %d layers; declare it in exactly one", from, len(in))
			continue
		}
		for _, imp := range ownImports(p) {
			if !mayImport(in[0].may, imp) {
				t.Errorf("%s (layer %s) imports %s: the layer may import only %v (%s)", from, in[0].name, imp, in[0].may, in[0].why)
			}
		}
		if from == "internal/core" && slices.Contains(p.Imports, "net/http") {
			t.Errorf("internal/core imports net/http: a status is the surface's choice, and the pipeline in internal/api keeps core free of HTTP")
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
