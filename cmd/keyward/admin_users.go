package main

// keyward user create|list|show|update|delete.

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/keyward/keyward/internal/api/native"
)

// userPath is the API path of the user with the given id.
func userPath(id string) string { return "/api/v1/users/" + url.PathEscape(id) }

// resolveUser finds a user named by login or by id: an exact login match
// from GET /api/v1/users?search= wins, otherwise the name is tried as an id.
func (c *adminCmd) resolveUser(name string) (native.User, error) {
	if name == "" {
		return native.User{}, errors.New("a user (id or login) is required")
	}
	u, found, searchErr := searchExact(c, "/api/v1/users", name, func(u native.User) bool { return u.Login == name })
	if found {
		return u, nil
	}
	_, err := c.fetch("GET", userPath(name), nil, &u)
	var ae *apiError
	switch {
	case err == nil:
		return u, nil
	case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
		return u, fmt.Errorf("no user with login or id %q", name)
	case searchErr != nil && errors.As(searchErr, &ae) && ae.Status != http.StatusForbidden:
		return u, searchErr // a failed search says more (e.g. bad credentials)
	}
	return u, err
}

// userCreate is keyward user create.
func userCreate(c *adminCmd) int {
	login := c.fs.String("login", "", "login (required)")
	kind := c.fs.String("kind", "user", "user or host")
	pwStdin := c.fs.Bool("password-stdin", false, "read a password from the first line of standard input")
	restricted := &listFlag{split: true}
	c.fs.Var(restricted, "restricted-to", "CIDRs the principal may authenticate from (comma-separated or repeated)")
	email := c.fs.String("email", "", "email address")
	display := c.fs.String("display-name", "", "display name")
	ann := &kvFlag{}
	c.fs.Var(ann, "annotation", "annotation key=value (repeatable)")
	if !c.parse(0, 0) {
		return c.bad()
	}
	if *login == "" {
		c.usagef("--login is required")
		return exitUsage
	}
	if *kind != "user" && *kind != "host" {
		c.usagef("--kind must be user or host, not %q", *kind)
		return exitUsage
	}
	body := map[string]any{"login": *login, "kind": *kind}
	if *pwStdin {
		pw, err := c.readSecret("--password-stdin")
		if err != nil {
			return c.fail(err)
		}
		body["password"] = pw
	}
	if restricted.vals != nil {
		body["restricted_to"] = restricted.vals
	}
	if *email != "" {
		body["email"] = *email
	}
	if *display != "" {
		body["display_name"] = *display
	}
	if ann.m != nil {
		body["annotations"] = ann.m
	}
	var u native.CreatedUser
	return c.answer("POST", "/api/v1/users", body, &u, func() {
		c.showUser(u.User, nil, "api_key:", u.APIKey)
		fmt.Fprintln(c.stderr, "keyward: the API key above is shown once; store it now")
	})
}

// showUser prints one user as name/value lines, with its grants when known
// and any extra name/value pairs last.
func (c *adminCmd) showUser(u native.User, grants []native.Grant, extra ...string) {
	var roles []string
	for _, g := range grants {
		r := g.ID
		if g.Type != "" && g.Type != "PERMANENT" {
			r += ":" + g.Type
		}
		if g.Source != "" && g.Source != "explicit" {
			r += " (" + g.Source + ")"
		}
		roles = append(roles, r)
	}
	c.fields(append([]string{
		"id:", u.ID,
		"login:", u.Login,
		"kind:", u.Kind,
		"role_id:", u.RoleID,
		"status:", u.Status,
		"email:", u.Email,
		"display_name:", u.DisplayName,
		"full_name:", u.FullName,
		"source:", u.Source,
		"restricted_to:", strings.Join(u.RestrictedTo, ","),
		"tags:", strings.Join(u.Tags, ","),
		"attributes:", pairs(u.Attributes),
		"annotations:", pairs(u.Annotations),
		"has_password:", strconv.FormatBool(u.HasPassword),
		"mfa:", u.MFA,
		"roles:", strings.Join(roles, ", "),
		"created_at:", stamp(&u.CreatedAt),
		"updated_at:", stamp(&u.UpdatedAt),
	}, extra...)...)
}

// userList is keyward user list.
func userList(c *adminCmd) int {
	p := c.paging("only logins containing this text", "at most this many (0: the server's default)", "skip this many")
	head := []string{"ID", "LOGIN", "KIND", "STATUS", "EMAIL", "CREATED"}
	return pagedList(c, p, "/api/v1/users", head, func(u native.User) []string {
		return []string{u.ID, u.Login, u.Kind, orDash(u.Status), orDash(u.Email), stamp(&u.CreatedAt)}
	})
}

// userShow is keyward user show USER.
func userShow(c *adminCmd) int {
	if !c.parse(1, 1) {
		return c.bad()
	}
	u, err := c.resolveUser(c.pos[0])
	if err != nil {
		return c.fail(err)
	}
	if c.json {
		return c.printGET(userPath(u.ID))
	}
	var grants struct {
		Roles []native.Grant `json:"roles"`
	}
	if _, err := c.fetch("GET", userPath(u.ID)+"/roles", nil, &grants); err != nil {
		return c.fail(err)
	}
	c.showUser(u, grants.Roles)
	return exitOK
}

// userUpdate is keyward user update USER: a partial update of what is given.
func userUpdate(c *adminCmd) int {
	pwStdin := c.fs.Bool("password-stdin", false, "set the password from the first line of standard input")
	status := c.fs.String("status", "", "active or disabled")
	restricted := &listFlag{split: true}
	c.fs.Var(restricted, "restricted-to", "CIDRs the principal may authenticate from (comma-separated or repeated; \"\" clears)")
	email := c.fs.String("email", "", "email address")
	display := c.fs.String("display-name", "", "display name")
	full := c.fs.String("full-name", "", "full name")
	ann := &kvFlag{}
	c.fs.Var(ann, "annotation", "set annotation key=value (repeatable)")
	rm := &listFlag{}
	c.fs.Var(rm, "remove-annotation", "remove an annotation (repeatable)")
	if !c.parse(1, 1) {
		return c.bad()
	}
	if *status != "" && *status != "active" && *status != "disabled" {
		c.usagef("--status must be active or disabled, not %q", *status)
		return exitUsage
	}
	body := map[string]any{}
	if c.set("status") {
		body["status"] = *status
	}
	if c.set("restricted-to") {
		body["restricted_to"] = append([]string{}, restricted.vals...)
	}
	if c.set("email") {
		body["email"] = *email
	}
	if c.set("display-name") {
		body["display_name"] = *display
	}
	if c.set("full-name") {
		body["full_name"] = *full
	}
	if ann.m != nil || rm.vals != nil {
		a := map[string]*string{}
		for _, k := range rm.vals {
			a[k] = nil
		}
		for k, v := range ann.m {
			a[k] = &v
		}
		body["annotations"] = a
	}
	if *pwStdin {
		pw, err := c.readSecret("--password-stdin")
		if err != nil {
			return c.fail(err)
		}
		body["password"] = pw
	}
	if len(body) == 0 {
		c.usagef("nothing to update: give at least one of the update flags")
		return exitUsage
	}
	u, err := c.resolveUser(c.pos[0])
	if err != nil {
		return c.fail(err)
	}
	var out native.User
	return c.answer("PATCH", userPath(u.ID), body, &out, func() { c.showUser(out, nil) })
}

// userDelete is keyward user delete USER.
func userDelete(c *adminCmd) int {
	if !c.parse(1, 1) {
		return c.bad()
	}
	u, err := c.resolveUser(c.pos[0])
	if err != nil {
		return c.fail(err)
	}
	return c.remove(userPath(u.ID), fmt.Sprintf("deleted %s %s (%s)", u.Kind, u.Login, u.ID))
}
