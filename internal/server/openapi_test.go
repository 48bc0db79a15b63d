package server_test

import (
	"encoding/json"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/server"
)

// TestOpenAPIDump writes the document to $KEYWARD_OPENAPI_OUT when set
// (.ci/run lints that file with redocly and swagger-cli).
func TestOpenAPIDump(t *testing.T) {
	out := os.Getenv("KEYWARD_OPENAPI_OUT")
	if out == "" {
		t.Skip("KEYWARD_OPENAPI_OUT is not set: nothing to write")
	}
	p := newInProcess(t)
	var doc map[string]any
	p.json(p.do("GET", "/api/v1/openapi.json", "", ""), 200, &doc)
	b, _ := json.MarshalIndent(doc, "", "  ")
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// docOp is one operation of the document, as the tests read it.
type docOp struct {
	path, method, pattern, surface string
	op                             map[string]any
}

func operations(t *testing.T, doc map[string]any) map[string]docOp {
	t.Helper()
	out := map[string]docOp{}
	for path, item := range doc["paths"].(map[string]any) {
		for method, o := range item.(map[string]any) {
			op := o.(map[string]any)
			pat, _ := op["x-keyward-pattern"].(string)
			if pat == "" {
				t.Errorf("%s %s: no x-keyward-pattern", method, path)
				continue
			}
			out[pat] = docOp{path: path, method: strings.ToUpper(method), pattern: pat, surface: op["x-keyward-surface"].(string), op: op}
		}
	}
	return out
}

// examplePath fills a documented path's parameters with values a request
// can carry.
func examplePath(path string) string {
	return strings.NewReplacer("{account}", "acme", "{login}", "admin", "{type}", "authn-jwt", "{service_id}", "x",
		"{id}", "x").Replace(path)
}

// TestOpenAPICoversEveryRoute: every route the server registered is in the
// document and every documented route is one the server registered; each
// documented route answers (the request reaches that route, as the
// per-route metrics show); every status it answered is documented for it;
// and each JSON success body names only documented fields.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	p := newInProcess(t)
	var doc map[string]any
	p.json(p.do("GET", "/api/v1/openapi.json", "", ""), 200, &doc)
	ops := operations(t, doc)
	served := map[string]bool{}
	for _, pat := range server.Patterns(p.s) {
		if !strings.Contains(pat, " ") {
			continue // a surface's fallback under its prefix (404/405 in its format)
		}
		served[pat] = true
		if _, ok := ops[pat]; !ok {
			t.Errorf("the server answers %s, which the OpenAPI document leaves out", pat)
		}
	}
	for pat := range ops {
		if !served[pat] {
			t.Errorf("the OpenAPI document has %s, which the server does not answer", pat)
		}
	}
	if len(ops) < 60 {
		t.Fatalf("only %d operations documented", len(ops))
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	pats := make([]string, 0, len(ops))
	for pat := range ops {
		pats = append(pats, pat)
	}
	sort.Strings(pats)
	for _, pat := range pats {
		o := ops[pat]
		token := ""
		if o.surface != "service" {
			token = p.admin
		}
		resp := p.do(o.method, examplePath(o.path), token, "")
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		responses := o.op["responses"].(map[string]any)
		documented, ok := responses[strconv.Itoa(resp.StatusCode)].(map[string]any)
		if !ok {
			t.Errorf("%s answered %d, which its documentation does not list (body %.200s)", pat, resp.StatusCode, body)
			continue
		}
		if resp.StatusCode < 300 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			checkFields(t, pat, body, documented, schemas)
		}
	}
	// Every documented route was reached as itself, not a fallback.
	m := scrape(t, p.srv.URL)
	for _, pat := range pats {
		found := false
		for series := range m {
			if strings.HasPrefix(series, `keyward_http_requests_total{route="`+pat+`",`) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("%s is documented but a request to %s did not reach it", pat, examplePath(ops[pat].path))
		}
	}
}

// checkFields: the top-level fields of a JSON success body are all in its
// documented schema.
func checkFields(t *testing.T, pat string, body []byte, documented map[string]any, schemas map[string]any) {
	t.Helper()
	content, _ := documented["content"].(map[string]any)
	media, _ := content["application/json"].(map[string]any)
	if media == nil {
		t.Errorf("%s answered JSON, but documents no JSON body", pat)
		return
	}
	schema, _ := media["schema"].(map[string]any)
	if ref, ok := schema["$ref"].(string); ok {
		schema, _ = schemas[strings.TrimPrefix(ref, "#/components/schemas/")].(map[string]any)
	}
	props, ok := schema["properties"].(map[string]any)
	if !ok {
		return // an array or free-form object
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		return // not an object
	}
	for k := range got {
		if _, ok := props[k]; !ok {
			t.Errorf("%s answered field %q, which its schema does not document", pat, k)
		}
	}
}

// TestOpenAPIDocumentsEveryRoute: every operation has a summary, a tag of
// its surface, a success response with a body unless it answers 204 (or
// only 501), an error response for each status of the surface's table, the
// surface's error schema for JSON errors, and security schemes that exist;
// Conjur's routes are under their own tag.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	p := newInProcess(t)
	var doc map[string]any
	p.json(p.do("GET", "/api/v1/openapi.json", "", ""), 200, &doc)
	info := doc["info"].(map[string]any)
	if lic, _ := info["license"].(map[string]any); lic["name"] == "" || lic["name"] == nil {
		t.Error("no license")
	}
	if s, _ := doc["servers"].([]any); len(s) == 0 {
		t.Error("no servers")
	}
	comps := doc["components"].(map[string]any)
	schemes := comps["securitySchemes"].(map[string]any)
	for _, want := range []string{"bearerToken", "apiKey", "basic", "conjurToken", "psAuth", "psSession"} {
		if schemes[want] == nil {
			t.Errorf("no security scheme %s", want)
		}
	}
	tags := map[string]int{}
	for pat, o := range operations(t, doc) {
		op := o.op
		tag := op["tags"].([]any)[0].(string)
		tags[tag]++
		if tag != o.surface || op["summary"] == "" {
			t.Errorf("%s: tag %q summary %q", pat, tag, op["summary"])
		}
		responses := op["responses"].(map[string]any)
		var success string
		var errs []string
		for code := range responses {
			if code < "300" {
				success = code
			} else {
				errs = append(errs, code)
			}
		}
		notImplemented := responses["501"] != nil
		if success == "" {
			if op["x-keyward-never-succeeds"] != true {
				t.Errorf("%s: no success response", pat)
			}
		} else if ok := responses[success].(map[string]any); success != "204" && ok["content"] == nil && !notImplemented && op["x-keyward-empty-body"] != true {
			t.Errorf("%s: success %s documents no body", pat, success)
		}
		if responses["500"] == nil || responses["503"] == nil {
			t.Errorf("%s: no 500 or 503 (every route can fail inside or lose its store)", pat)
		}
		if op["x-keyward-security"] == "authenticated" && responses["401"] == nil {
			t.Errorf("%s: authenticated but no 401", pat)
		}
		if perm, _ := op["x-keyward-permission"].(string); perm != "" && perm != "public" && responses["403"] == nil {
			t.Errorf("%s: needs a permission but documents no 403", pat)
		}
		if strings.Contains(o.path, "{id}") && responses["404"] == nil {
			t.Errorf("%s: names an id but documents no 404", pat)
		}
		for _, code := range errs {
			r := responses[code].(map[string]any)
			c, _ := r["content"].(map[string]any)
			for _, m := range c {
				ref := m.(map[string]any)["schema"].(map[string]any)["$ref"]
				want := "#/components/schemas/" + strings.ToUpper(o.surface[:1]) + o.surface[1:] + "Error"
				if ref != want {
					t.Errorf("%s %s: error schema %v, want the surface's %s", pat, code, ref, want)
				}
			}
		}
		if sec, ok := op["security"].([]any); ok {
			for _, s := range sec {
				for name := range s.(map[string]any) {
					if schemes[name] == nil {
						t.Errorf("%s: unknown security scheme %s", pat, name)
					}
				}
			}
		} else {
			t.Errorf("%s: no security", pat)
		}
	}
	for _, tag := range []string{"native", "conjur", "service"} {
		if tags[tag] == 0 {
			t.Errorf("no operation under tag %s", tag)
		}
	}
	// Query parameters and request schemas reach the document.
	users := doc["paths"].(map[string]any)["/api/v1/users"].(map[string]any)["get"].(map[string]any)
	names := map[string]bool{}
	for _, prm := range users["parameters"].([]any) {
		names[prm.(map[string]any)["name"].(string)] = true
	}
	if !names["limit"] || !names["offset"] || !names["search"] {
		t.Errorf("GET /api/v1/users query parameters: %v", names)
	}
	tokenOp := doc["paths"].(map[string]any)["/api/v1/token"].(map[string]any)["post"].(map[string]any)
	if tokenOp["responses"].(map[string]any)["429"] == nil || tokenOp["requestBody"] == nil {
		t.Error("POST /api/v1/token documents no 429 or no request body")
	}
}
