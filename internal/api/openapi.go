package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/core"
)

var paramRE = regexp.MustCompile(`\{([^}.$]+)(\.\.\.)?\}`)

// Media documents a body that is not (only) JSON: content type to a zero
// value of what the body holds ("" for text). A Route's Request or
// Response that is not a Media is JSON.
type Media map[string]any

// Security schemes of the OpenAPI document. A surface names the ones a
// route accepts through SecurityDoc; one that does not is documented as
// taking a bearer token.
const (
	SchemeBearer = "bearerToken" // Authorization: Bearer <access token>
	SchemeAPIKey = "apiKey"      // Authorization: Bearer <API key>
	SchemeBasic  = "basic"       // Authorization: Basic login:password (or login:API key)
	SchemeConjur = "conjurToken" // Authorization: Token token="<base64 access token>"
	// SchemePSAuth is BeyondTrust's Authorization: PS-Auth key=…; runas=…; pwd=[…].
	SchemePSAuth = "psAuth"
	// SchemePSSession is the ASP.NET_SessionId cookie a PS-Auth sign-in sets.
	SchemePSSession = "psSession"
)

// NoBody documents a success answered without a body (other than 204).
var NoBody = Media{}

// SecurityDoc is implemented by surfaces that document which security
// schemes each of their authenticated routes accepts.
type SecurityDoc interface {
	Security(rt Route) []string
}

// DocInfo is what the OpenAPI document says of the service itself.
type DocInfo struct {
	Title, Version, Description string
	Servers                     []map[string]any
	License                     map[string]any
}

// OpenAPI builds the OpenAPI 3 document of every route of every surface,
// each under a tag of the surface's name, from the route tables: path
// parameters from the pattern, query parameters, request and response
// schemas by reflection over the wire types, and every error status a route
// can answer (those its shape implies, and Route.Errors) rendered through
// the surface's own error table, with the schema of what that table writes.
func OpenAPI(info DocInfo, surfaces []Surface) map[string]any {
	g := &docGen{schemas: map[string]any{}, names: map[reflect.Type]string{}}
	paths := map[string]any{}
	var tags []any
	for _, sf := range surfaces {
		tag := map[string]any{"name": sf.Name(), "description": "The " + sf.Name() + " surface."}
		if d, ok := sf.(interface{ Describe() string }); ok {
			tag["description"] = d.Describe()
		}
		tags = append(tags, tag)
		for _, rt := range sf.Routes() {
			p := DocPath(rt.Pattern)
			item, _ := paths[p].(map[string]any)
			if item == nil {
				item = map[string]any{}
				paths[p] = item
			}
			item[strings.ToLower(rt.Method)] = g.operation(sf, rt, p)
		}
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": info.Title, "version": info.Version, "description": info.Description,
			"license": info.License},
		"servers": info.Servers,
		"tags":    tags,
		"paths":   paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				SchemeBearer: map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
					"description": "An access token from POST /api/v1/token (or a Conjur authenticate route)."},
				SchemeAPIKey: map[string]any{"type": "http", "scheme": "bearer",
					"description": "An API key presented as the bearer credential."},
				SchemeBasic: map[string]any{"type": "http", "scheme": "basic",
					"description": "login:password, or login:API key where Conjur accepts it."},
				SchemeConjur: map[string]any{"type": "apiKey", "in": "header", "name": "Authorization",
					"description": `Conjur's form: Token token="<base64 of the access token>".`},
				SchemePSAuth: map[string]any{"type": "apiKey", "in": "header", "name": "Authorization",
					"description": `BeyondTrust's form: PS-Auth key=<API key>; runas=<user>; pwd=[<password>] (or a PSRUN signature).`},
				SchemePSSession: map[string]any{"type": "apiKey", "in": "cookie", "name": "ASP.NET_SessionId",
					"description": "The session cookie Auth/SignAppin sets."},
			},
			"schemas": g.schemas,
		},
	}
}

// DocPath is a route pattern as an OpenAPI path: "{$}" dropped, "{x...}"
// as "{x}".
func DocPath(pattern string) string {
	p := strings.TrimSuffix(pattern, "{$}")
	if p == "" {
		p = "/"
	}
	return strings.ReplaceAll(p, "...}", "}")
}

type docGen struct {
	schemas map[string]any
	names   map[reflect.Type]string
	// request is set while documenting a request body: its fields are not
	// required (decoders accept them missing).
	request bool
}

var opIDClean = strings.NewReplacer("/", "_", "{", "", "}", "", "-", "_", ".", "_", "$", "")

func (g *docGen) operation(sf Surface, rt Route, path string) map[string]any {
	op := map[string]any{
		"tags":               []any{sf.Name()},
		"summary":            rt.Summary,
		"operationId":        sf.Name() + "_" + strings.ToLower(rt.Method) + strings.TrimSuffix(opIDClean.Replace(path), "_"),
		"x-keyward-pattern":  rt.Method + " " + rt.Pattern,
		"x-keyward-surface":  sf.Name(),
		"x-keyward-security": "public",
	}
	if op["summary"] == "" {
		op["summary"] = rt.Method + " " + path
	}
	params := []any{}
	for _, m := range paramRE.FindAllStringSubmatch(path, -1) {
		params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
	}
	if rt.Query != nil {
		t := reflect.TypeOf(rt.Query)
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := f.Tag.Get("query")
			if name == "" {
				continue
			}
			q := map[string]any{"name": name, "in": "query", "required": f.Tag.Get("required") == "true", "schema": g.schema(f.Type)}
			if d := f.Tag.Get("doc"); d != "" {
				q["description"] = d
			}
			params = append(params, q)
		}
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	schemes := schemesOf(sf, rt)
	if rt.Public && !rt.OptionalAuth && len(schemes) == 0 {
		op["security"] = []any{}
	} else {
		if len(schemes) == 0 {
			schemes = []string{SchemeBearer}
		}
		var sec []any
		for _, s := range schemes {
			sec = append(sec, map[string]any{s: []any{}})
		}
		if rt.Public && rt.OptionalAuth {
			sec = append(sec, map[string]any{}) // the credential is optional
		}
		op["security"] = sec
		op["x-keyward-security"] = "authenticated"
	}
	switch {
	case rt.Public:
		op["x-keyward-permission"] = "public"
	case rt.Permission != "":
		op["x-keyward-permission"] = rt.Permission
	}
	if rt.Self != "" || rt.SelfService {
		op["x-keyward-self-service"] = true
	}
	if rt.MinLevel > 0 {
		op["x-keyward-min-level"] = rt.MinLevel
	}
	if rt.Request != nil {
		g.request = true
		op["requestBody"] = map[string]any{"required": true, "content": g.content(rt.Request)}
		g.request = false
	}
	status := rt.Status
	if status == 0 {
		status = http.StatusOK
	}
	responses := map[string]any{}
	if status < 400 {
		ok := map[string]any{"description": http.StatusText(status)}
		if m, isMedia := rt.Response.(Media); isMedia && len(m) == 0 {
			op["x-keyward-empty-body"] = true
		} else if rt.Response != nil && status != http.StatusNoContent {
			ok["content"] = g.content(rt.Response)
		}
		responses[strconv.Itoa(status)] = ok
	} else {
		// The route never succeeds (a Conjur route keyward answers only
		// with this refusal): its status is one of its errors.
		op["x-keyward-never-succeeds"] = true
	}
	for code, resp := range g.errorResponses(sf, rt, path) {
		responses[code] = resp
	}
	op["responses"] = responses
	return op
}

// schemesOf is what a surface says a route accepts: nil when it says
// nothing (a bearer token, unless the route is public).
func schemesOf(sf Surface, rt Route) []string {
	if d, ok := sf.(SecurityDoc); ok {
		return d.Security(rt)
	}
	return nil
}

// content documents a body: a Media by its content types, else JSON.
func (g *docGen) content(v any) map[string]any {
	out := map[string]any{}
	m, ok := v.(Media)
	if !ok {
		m = Media{"application/json": v}
	}
	for ct, body := range m {
		out[ct] = map[string]any{"schema": g.schema(reflect.TypeOf(body))}
	}
	return out
}

// impliedErrors are the errors a route's shape implies: every route may
// fail inside (500) or find the store or audit log unavailable (503); one
// that authenticates may refuse the credential (401) and, unless public,
// the permission, level or object (403); an id in the path may name
// nothing (404); a body or query may be invalid (400 or the surface's
// validation status), and a body too large (413).
func impliedErrors(rt Route, path string) []core.Error {
	errs := []core.Error{{Kind: core.Internal}, {Kind: core.Unavailable}}
	if !rt.Public || rt.OptionalAuth {
		errs = append(errs, core.Error{Kind: core.Unauthenticated})
	}
	if !rt.Public {
		errs = append(errs, core.Error{Kind: core.Forbidden})
		if rt.Method != http.MethodGet {
			// A change may meet another (exists already, changed meanwhile).
			errs = append(errs, core.Error{Kind: core.Conflict})
		}
	}
	for _, m := range paramRE.FindAllStringSubmatch(path, -1) {
		if m[1] != rt.Account && m[1] != "account" {
			errs = append(errs, core.Error{Kind: core.NotFound})
			break
		}
	}
	if rt.Request != nil {
		errs = append(errs, core.Error{Kind: core.Invalid}, core.Error{Kind: core.TooLarge})
	}
	if rt.Query != nil {
		errs = append(errs, core.Error{Kind: core.Invalid})
	}
	return append(errs, rt.Errors...)
}

// errorResponses renders each error a route can answer through the
// surface's own table, and documents each status with what it writes.
func (g *docGen) errorResponses(sf Surface, rt Route, path string) map[string]any {
	table := sf.Errors()
	req, _ := http.NewRequest(rt.Method, "http://keyward.invalid"+paramRE.ReplaceAllString(path, "x"), nil)
	type acc struct {
		kinds   []string
		ctype   string
		samples []any
	}
	byStatus := map[int]*acc{}
	for _, e := range impliedErrors(rt, path) {
		e := e
		e.Msg = "example"
		if e.Kind == core.RateLimited {
			e.RetryAfter = time.Second
		}
		rp := table(req, &e)
		a := byStatus[rp.Status]
		if a == nil {
			a = &acc{}
			byStatus[rp.Status] = a
		}
		a.kinds = append(a.kinds, kindName(e.Kind))
		if len(rp.Body) > 0 && strings.Contains(rp.ContentType, "json") {
			var v any
			if json.Unmarshal(rp.Body, &v) == nil {
				a.ctype = "application/json"
				a.samples = append(a.samples, v)
			}
		}
	}
	out := map[string]any{}
	for status, a := range byStatus {
		sort.Strings(a.kinds)
		r := map[string]any{"description": http.StatusText(status) + " (" + strings.Join(uniq(a.kinds), ", ") + ")"}
		if a.ctype != "" {
			name := errorSchemaName(sf.Name())
			g.schemas[name] = mergeSchemas(g.schemas[name], a.samples)
			r["content"] = map[string]any{a.ctype: map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/" + name}}}
		}
		if status == http.StatusTooManyRequests {
			r["headers"] = map[string]any{"Retry-After": map[string]any{"description": "seconds to wait before retrying",
				"schema": map[string]any{"type": "integer"}}}
		}
		out[strconv.Itoa(status)] = r
	}
	return out
}

func errorSchemaName(surface string) string {
	return strings.ToUpper(surface[:1]) + surface[1:] + "Error"
}

func uniq(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

var kindNames = map[core.Kind]string{core.Internal: "internal", core.Invalid: "invalid", core.Unauthenticated: "unauthenticated",
	core.Forbidden: "forbidden", core.NotFound: "not found", core.Conflict: "conflict", core.RateLimited: "rate limited",
	core.Unavailable: "unavailable", core.NotImplemented: "route not served by this surface", core.TooLarge: "too large",
	core.MethodNotAllowed: "method not allowed"}

func kindName(k core.Kind) string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return "error " + strconv.Itoa(int(k))
}

// mergeSchemas widens schema (nil for none yet) by the JSON samples: the
// union of the object properties each shows. Error bodies are written by
// the surface's table, so the schema is what the table writes, not a copy.
func mergeSchemas(schema any, samples []any) any {
	for _, v := range samples {
		schema = mergeSchema(schema, v)
	}
	return schema
}

func mergeSchema(schema any, v any) any {
	s, _ := schema.(map[string]any)
	switch v := v.(type) {
	case map[string]any:
		props := map[string]any{}
		if s != nil {
			if p, ok := s["properties"].(map[string]any); ok {
				props = p
			}
		}
		for k, val := range v {
			props[k] = mergeSchema(props[k], val)
		}
		return map[string]any{"type": "object", "properties": props}
	case []any:
		var items any
		if s != nil {
			items = s["items"]
		}
		for _, it := range v {
			items = mergeSchema(items, it)
		}
		if items == nil {
			items = map[string]any{}
		}
		return map[string]any{"type": "array", "items": items}
	case string:
		return map[string]any{"type": "string"}
	case float64:
		return map[string]any{"type": "number"}
	case bool:
		return map[string]any{"type": "boolean"}
	}
	if s != nil {
		return s
	}
	return map[string]any{}
}

var nameClean = regexp.MustCompile(`[^A-Za-z0-9]+`)

// schema is the JSON schema of t; named struct types become components,
// referred to by $ref (so recursive and shared types are said once).
func (g *docGen) schema(t reflect.Type) map[string]any {
	if t == nil {
		return map[string]any{}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeOf(time.Time{}):
		return map[string]any{"type": "string", "format": "date-time"}
	case t == reflect.TypeOf(json.RawMessage(nil)):
		return map[string]any{}
	case t == reflect.TypeOf(time.Duration(0)):
		return map[string]any{"type": "integer", "format": "int64", "description": "nanoseconds"}
	}
	switch t.Kind() {
	case reflect.Struct:
		if t.Name() == "" {
			return g.object(t)
		}
		name, ok := g.names[t]
		if !ok {
			name = g.componentName(t)
			g.names[t] = name
			g.schemas[name] = map[string]any{} // placeholder for recursion
			g.schemas[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "format": "byte"}
		}
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float64, reflect.Float32:
		return map[string]any{"type": "number"}
	}
	return map[string]any{}
}

// componentName names a struct type: its Go name (generic arguments by
// their own names), prefixed by its package's when two packages use it.
func (g *docGen) componentName(t reflect.Type) string {
	name := t.Name()
	if i := strings.IndexByte(name, '['); i >= 0 {
		args := name[i+1 : len(name)-1]
		if j := strings.LastIndexByte(args, '.'); j >= 0 {
			args = args[j+1:]
		}
		name = name[:i] + "Of" + args
	}
	name = nameClean.ReplaceAllString(name, "")
	name = strings.ToUpper(name[:1]) + name[1:]
	for other, n := range g.names {
		if n == name && other != t {
			pkg := t.PkgPath()
			pkg = pkg[strings.LastIndexByte(pkg, '/')+1:]
			return strings.ToUpper(pkg[:1]) + pkg[1:] + name
		}
	}
	return name
}

// object is a struct's schema: its JSON fields (embedded structs' fields
// inline, as encoding/json writes them); fields without omitempty are
// required, as encoding/json always writes them.
func (g *docGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			name, opts, _ := strings.Cut(tag, ",")
			if name == "-" {
				continue
			}
			ft := f.Type
			if f.Anonymous && name == "" {
				for ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			props[name] = g.schema(ft)
			if !g.request && !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
				required = append(required, name)
			}
		}
	}
	walk(t)
	out := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		sort.Strings(required)
		out["required"] = required
	}
	return out
}
