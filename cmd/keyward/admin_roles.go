package main

// keyward role create|list|show|delete|grant.

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/keyward/keyward/internal/api/native"
)

// rolePath is the API path of the role with the given id.
func rolePath(id string) string { return "/api/v1/roles/" + url.PathEscape(id) }

// resolveRole finds a role named by id or, failing that, by exact name.
func (c *adminCmd) resolveRole(name string) (native.Role, error) {
	var r native.Role
	_, err := c.fetch("GET", rolePath(name), nil, &r)
	var ae *apiError
	if err == nil {
		return r, nil
	}
	if !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		return r, err
	}
	ro, found, err := searchExact(c, "/api/v1/roles", name, func(ro native.Role) bool { return ro.Name == name })
	switch {
	case err != nil:
		return r, err
	case found:
		return ro, nil
	}
	return r, fmt.Errorf("no role with id or name %q", name)
}

// showRole prints one role as name/value lines.
func (c *adminCmd) showRole(r native.Role) {
	ctx := ""
	if r.Context != nil {
		ctx = fmt.Sprintf("%+v", *r.Context)
	}
	c.fields(
		"id:", r.ID,
		"name:", r.Name,
		"description:", r.Description,
		"permissions:", strings.Join(r.Permissions, ", "),
		"context:", ctx,
		"built_in:", strconv.FormatBool(r.BuiltIn),
		"created_at:", stamp(&r.CreatedAt),
		"updated_at:", stamp(&r.UpdatedAt),
	)
}

// roleCreate is keyward role create.
func roleCreate(c *adminCmd) int {
	name := c.fs.String("name", "", "role name (required)")
	perms := &listFlag{split: true}
	c.fs.Var(perms, "permission", "permission the role gives (repeatable or comma-separated)")
	desc := c.fs.String("description", "", "what the role is for")
	if !c.parse(0, 0) {
		return c.bad()
	}
	if *name == "" {
		c.usagef("--name is required")
		return exitUsage
	}
	body := map[string]any{"name": *name, "permissions": append([]string{}, perms.vals...)}
	if *desc != "" {
		body["description"] = *desc
	}
	var r native.Role
	return c.answer("POST", "/api/v1/roles", body, &r, func() { c.showRole(r) })
}

// roleList is keyward role list.
func roleList(c *adminCmd) int {
	p := c.paging("only names containing this text", "at most this many (0: the server's default)", "skip this many")
	head := []string{"ID", "NAME", "BUILT-IN", "PERMISSIONS", "DESCRIPTION"}
	return pagedList(c, p, "/api/v1/roles", head, func(r native.Role) []string {
		return []string{r.ID, r.Name, strconv.FormatBool(r.BuiltIn), join(r.Permissions), orDash(r.Description)}
	})
}

// roleShow is keyward role show ROLE.
func roleShow(c *adminCmd) int {
	if !c.parse(1, 1) {
		return c.bad()
	}
	r, err := c.resolveRole(c.pos[0])
	if err != nil {
		return c.fail(err)
	}
	if c.json {
		return c.printGET(rolePath(r.ID))
	}
	c.showRole(r)
	return exitOK
}

// roleDelete is keyward role delete ROLE.
func roleDelete(c *adminCmd) int {
	if !c.parse(1, 1) {
		return c.bad()
	}
	r, err := c.resolveRole(c.pos[0])
	if err != nil {
		return c.fail(err)
	}
	return c.remove(rolePath(r.ID), fmt.Sprintf("deleted role %s (%s)", r.Name, r.ID))
}

// grantTypes are the grant types the API knows.
var grantTypes = map[string]bool{"PERMANENT": true, "TIME_RESTRICTED": true, "FLOATING": true}

// grantItem is one entry of PUT /api/v1/users/{id}/roles.
type grantItem struct {
	ID             string `json:"id"`
	Type           string `json:"type"`
	Periods        any    `json:"periods,omitempty"`
	FloatingLength int    `json:"floating_length,omitempty"`
}

// roleGrant is keyward role grant: it sets the user's explicit grants with
// PUT /api/v1/users/{id}/roles, adding the named roles to the ones the user
// already holds explicitly, or (--replace) setting exactly these.
func roleGrant(c *adminCmd) int {
	user := c.fs.String("user", "", "the user's id or login (required)")
	roles := &listFlag{split: true}
	c.fs.Var(roles, "role", "ROLE[:TYPE] to grant (repeatable); ROLE is an id or a name")
	replace := c.fs.Bool("replace", false, "make the user's explicit grants exactly these (none given: remove all)")
	if !c.parse(0, -1) {
		return c.bad()
	}
	if *user == "" {
		c.usagef("--user is required")
		return exitUsage
	}
	specs := append(append([]string{}, roles.vals...), c.pos...)
	if len(specs) == 0 && !*replace {
		c.usagef("name at least one role with --role ROLE[:TYPE]")
		return exitUsage
	}
	type want struct{ role, typ string }
	var wants []want
	for _, s := range specs {
		role, typ, _ := strings.Cut(s, ":")
		typ = strings.ToUpper(typ)
		if typ == "" {
			typ = "PERMANENT"
		}
		if role == "" || !grantTypes[typ] {
			c.usagef("%q is not ROLE[:PERMANENT|TIME_RESTRICTED|FLOATING]", s)
			return exitUsage
		}
		wants = append(wants, want{role, typ})
	}
	u, err := c.resolveUser(*user)
	if err != nil {
		return c.fail(err)
	}
	items := []grantItem{}
	index := map[string]int{}
	if !*replace {
		var cur struct {
			Roles []native.Grant `json:"roles"`
		}
		if _, err := c.fetch("GET", userPath(u.ID)+"/roles", nil, &cur); err != nil {
			return c.fail(err)
		}
		for _, g := range cur.Roles {
			if g.Source != "" && g.Source != "explicit" {
				continue // mapped grants are not the user's to set
			}
			index[g.ID] = len(items)
			it := grantItem{ID: g.ID, Type: g.Type, FloatingLength: g.FloatingLength}
			if len(g.Periods) > 0 {
				it.Periods = g.Periods
			}
			items = append(items, it)
		}
	}
	for _, w := range wants {
		r, err := c.resolveRole(w.role)
		if err != nil {
			return c.fail(err)
		}
		it := grantItem{ID: r.ID, Type: w.typ}
		if i, ok := index[r.ID]; ok {
			items[i] = it
			continue
		}
		index[r.ID] = len(items)
		items = append(items, it)
	}
	var out struct {
		Roles []native.Grant `json:"roles"`
	}
	b, err := c.fetch("PUT", userPath(u.ID)+"/roles", map[string]any{"roles": items}, &out)
	if err != nil {
		return c.fail(err)
	}
	if c.json {
		c.printJSON(b)
		return exitOK
	}
	fmt.Fprintf(c.stdout, "roles of %s %s:\n", u.Kind, u.Login)
	w := c.table()
	row(w, "ROLE ID", "TYPE", "SOURCE")
	for _, g := range out.Roles {
		row(w, g.ID, orDash(g.Type), orDash(g.Source))
	}
	w.Flush()
	return exitOK
}
