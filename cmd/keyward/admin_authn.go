package main

// keyward authenticator list|show|set|enable|disable|delete.

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/keyward/keyward/internal/api/native"
)

// authnName is an authenticator service's name: its type and, for types
// that have one, its service id.
type authnName struct{ typ, serviceID string }

func (n authnName) String() string {
	if n.serviceID == "" {
		return n.typ
	}
	return n.typ + "/" + n.serviceID
}

// path is the service's API path.
func (n authnName) path() string {
	p := "/api/v1/authenticators/" + url.PathEscape(n.typ)
	if n.serviceID != "" {
		p += "/" + url.PathEscape(n.serviceID)
	}
	return p
}

// parseAuthn parses the command line of a command on one service, named
// by one or two positional arguments (see authnArg). When ok is false the
// command exits with code.
func (c *adminCmd) parseAuthn() (n authnName, code int, ok bool) {
	if !c.parse(1, 2) {
		return n, c.bad(), false
	}
	if n, ok = c.authnArg(); !ok {
		return n, exitUsage, false
	}
	return n, exitOK, true
}

// authnArg reads the service named by the positional arguments: either
// TYPE[/SERVICE_ID] or TYPE SERVICE_ID. It reports a usage error and
// returns false when they do not name one.
func (c *adminCmd) authnArg() (authnName, bool) {
	var n authnName
	switch len(c.pos) {
	case 1:
		n.typ, n.serviceID, _ = strings.Cut(c.pos[0], "/")
	case 2:
		n.typ, n.serviceID = c.pos[0], c.pos[1]
	}
	if n.typ == "" || strings.Contains(n.typ, "/") || (len(c.pos) == 2 && (n.serviceID == "" || strings.Contains(n.serviceID, "/"))) {
		return n, c.usagef("name the authenticator as TYPE[/SERVICE_ID], e.g. authn-jwt/ci")
	}
	return n, true
}

// showAuthn prints one authenticator service: its fields, then its config.
func (c *adminCmd) showAuthn(a native.Authenticator) {
	c.fields(
		"type:", a.Type,
		"service_id:", a.ServiceID,
		"enabled:", strconv.FormatBool(a.Enabled),
		"status:", a.Status,
		"allowed:", strings.Join(a.Allowed, ", "),
		"updated_at:", stamp(&a.UpdatedAt),
	)
	if len(a.Config) == 0 {
		return
	}
	fmt.Fprintln(c.stdout, "config:")
	keys := make([]string, 0, len(a.Config))
	for k := range a.Config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	w := c.table()
	for _, k := range keys {
		v := strings.ReplaceAll(a.Config[k], "\n", `\n`)
		if len(v) > 100 {
			v = v[:97] + "..."
		}
		row(w, "  "+k, v)
	}
	w.Flush()
}

// authnList is keyward authenticator list.
func authnList(c *adminCmd) int {
	if !c.parse(0, 0) {
		return c.bad()
	}
	var list native.List[native.Authenticator]
	return c.answer("GET", "/api/v1/authenticators", nil, &list, func() {
		head := []string{"TYPE", "SERVICE ID", "ENABLED", "STATUS", "ALLOWED"}
		printTable(c, head, list.Items, func(a native.Authenticator) []string {
			return []string{a.Type, orDash(a.ServiceID), strconv.FormatBool(a.Enabled), orDash(a.Status), join(a.Allowed)}
		})
	})
}

// authnShow is keyward authenticator show TYPE[/SERVICE_ID].
func authnShow(c *adminCmd) int {
	n, code, ok := c.parseAuthn()
	if !ok {
		return code
	}
	var a native.Authenticator
	return c.answer("GET", n.path(), nil, &a, func() { c.showAuthn(a) })
}

// authnBody is the body of PUT /api/v1/authenticators/{type}[/{service_id}].
type authnBody struct {
	Enabled bool              `json:"enabled"`
	Config  map[string]string `json:"config"`
	Allowed []string          `json:"allowed"`
}

// getAuthn reads a service; found is false (with no error) when it does not exist.
func (c *adminCmd) getAuthn(n authnName) (a native.Authenticator, found bool, err error) {
	_, err = c.fetch("GET", n.path(), nil, &a)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return a, false, nil
	}
	return a, err == nil, err
}

// put stores a service and prints the answer.
func (c *adminCmd) putAuthn(n authnName, body authnBody) int {
	if body.Config == nil {
		body.Config = map[string]string{}
	}
	if body.Allowed == nil {
		body.Allowed = []string{}
	}
	var a native.Authenticator
	return c.answer("PUT", n.path(), body, &a, func() { c.showAuthn(a) })
}

// authnSet is keyward authenticator set: it defines or replaces a service.
// Config values that come back masked ("*****") may be sent back as they
// are: the server then keeps the stored secret.
func authnSet(c *adminCmd) int {
	cfg := &kvFlag{}
	c.fs.Var(cfg, "config", "config key=value, with Conjur's variable names (repeatable)")
	fromStdin := &listFlag{}
	c.fs.Var(fromStdin, "config-stdin", "config key whose value is read from a line of standard input, for secrets (repeatable)")
	allow := &listFlag{split: true}
	c.fs.Var(allow, "allow", "who may authenticate: user:LOGIN, host:LOGIN or role:NAME (repeatable or comma-separated)")
	enabled := c.fs.Bool("enabled", true, "enable the service (default: keep the current state; a new service is enabled)")
	merge := c.fs.Bool("merge", false, "change only the given config keys and add to the allow list, keeping the rest")
	n, code, ok := c.parseAuthn()
	if !ok {
		return code
	}
	for _, k := range fromStdin.vals {
		if k == "" || strings.Contains(k, "=") {
			c.usagef("--config-stdin takes a config key, not %q", k)
			return exitUsage
		}
	}
	body := authnBody{Enabled: *enabled, Config: map[string]string{}}
	if !c.set("enabled") || *merge {
		cur, found, err := c.getAuthn(n)
		if err != nil {
			return c.fail(err)
		}
		if found && !c.set("enabled") {
			body.Enabled = cur.Enabled
		}
		if found && *merge {
			for k, v := range cur.Config {
				body.Config[k] = v
			}
			body.Allowed = append(body.Allowed, cur.Allowed...)
		}
	}
	for _, k := range cfg.order {
		body.Config[k] = cfg.m[k]
	}
	for _, k := range fromStdin.vals {
		v, err := c.readSecret("--config-stdin " + k)
		if err != nil {
			return c.fail(err)
		}
		body.Config[k] = v
	}
	seen := map[string]bool{}
	for _, a := range body.Allowed {
		seen[a] = true
	}
	for _, a := range allow.vals {
		if !seen[a] {
			seen[a] = true
			body.Allowed = append(body.Allowed, a)
		}
	}
	return c.putAuthn(n, body)
}

// authnToggle GETs a service and PUTs it back with enabled set to on,
// keeping its config (masked secrets are kept by the server) and allow list.
func authnToggle(c *adminCmd, on bool) int {
	n, code, ok := c.parseAuthn()
	if !ok {
		return code
	}
	var cur native.Authenticator
	if _, err := c.fetch("GET", n.path(), nil, &cur); err != nil {
		return c.fail(err)
	}
	return c.putAuthn(n, authnBody{Enabled: on, Config: cur.Config, Allowed: cur.Allowed})
}

// authnEnable is keyward authenticator enable.
func authnEnable(c *adminCmd) int { return authnToggle(c, true) }

// authnDisable is keyward authenticator disable.
func authnDisable(c *adminCmd) int { return authnToggle(c, false) }

// authnDelete is keyward authenticator delete.
func authnDelete(c *adminCmd) int {
	n, code, ok := c.parseAuthn()
	if !ok {
		return code
	}
	return c.remove(n.path(), fmt.Sprintf("deleted authenticator %s", n))
}
