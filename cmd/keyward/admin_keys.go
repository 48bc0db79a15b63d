package main

// keyward apikey create|list|revoke|rotate.

import (
	"fmt"
	"net/url"
	"time"

	"github.com/keyward/keyward/internal/api/native"
)

// keyPath is the API path of the API key with the given id.
func keyPath(id string) string { return "/api/v1/api-keys/" + url.PathEscape(id) }

// keyState is a key's state for tables: revoked, expired, in grace, or active.
func keyState(k native.APIKey, now time.Time) string {
	switch {
	case k.RevokedAt != nil:
		return "revoked"
	case k.ExpiresAt != nil && !k.ExpiresAt.After(now):
		return "expired"
	case k.GraceUntil != nil && k.GraceUntil.After(now):
		return "rotated (old secret valid until " + stamp(k.GraceUntil) + ")"
	}
	return "active"
}

// showNewKey prints a created or rotated key's fields and its secret, with
// a reminder on stderr that the secret is shown only this once.
func (c *adminCmd) showNewKey(nk native.NewAPIKey) {
	k := nk.APIKey
	c.fields(
		"id:", k.ID,
		"principal_id:", k.PrincipalID,
		"description:", k.Description,
		"valid_sources:", join(k.ValidSources),
		"roles:", join(k.Roles),
		"expires_at:", stamp(k.ExpiresAt),
		"created_at:", stamp(&k.CreatedAt),
		"rotated_at:", stamp(k.RotatedAt),
		"grace_until:", stamp(k.GraceUntil),
		"state:", keyState(k, time.Now()),
		"key:", nk.Key,
	)
	fmt.Fprintln(c.stderr, "keyward: the key above is shown once; store it now")
}

// keyCreate is keyward apikey create.
func keyCreate(c *adminCmd) int {
	user := c.fs.String("user", "", "owner's id or login (required)")
	desc := c.fs.String("description", "", "what the key is for")
	sources := &listFlag{split: true}
	c.fs.Var(sources, "valid-sources", "CIDRs the key may be used from (comma-separated or repeated)")
	days := c.fs.Int("expires-in-days", 0, "expire the key after this many days (0: never)")
	roles := &listFlag{split: true}
	c.fs.Var(roles, "role", "role id the key is limited to (repeatable; default: the owner's roles)")
	if !c.parse(0, 0) {
		return c.bad()
	}
	if *user == "" {
		c.usagef("--user is required")
		return exitUsage
	}
	if *days < 0 {
		c.usagef("--expires-in-days must not be negative")
		return exitUsage
	}
	u, err := c.resolveUser(*user)
	if err != nil {
		return c.fail(err)
	}
	body := map[string]any{}
	if *desc != "" {
		body["description"] = *desc
	}
	if sources.vals != nil {
		body["valid_sources"] = sources.vals
	}
	if c.set("expires-in-days") && *days > 0 {
		body["expires_in_days"] = *days
	}
	if roles.vals != nil {
		body["roles"] = roles.vals
	}
	var k native.NewAPIKey
	return c.answer("POST", userPath(u.ID)+"/api-keys", body, &k, func() { c.showNewKey(k) })
}

// keyList is keyward apikey list --user USER.
func keyList(c *adminCmd) int {
	user := c.fs.String("user", "", "owner's id or login (required; may also be given as the argument)")
	if !c.parse(0, 1) {
		return c.bad()
	}
	if len(c.pos) == 1 {
		if *user != "" {
			c.usagef("give the user once, as --user or as the argument")
			return exitUsage
		}
		*user = c.pos[0]
	}
	if *user == "" {
		c.usagef("--user is required")
		return exitUsage
	}
	u, err := c.resolveUser(*user)
	if err != nil {
		return c.fail(err)
	}
	var list native.List[native.APIKey]
	return c.answer("GET", userPath(u.ID)+"/api-keys", nil, &list, func() {
		now := time.Now()
		head := []string{"ID", "DESCRIPTION", "ROLES", "SOURCES", "EXPIRES", "LAST USED", "FROM", "STATE"}
		printTable(c, head, list.Items, func(k native.APIKey) []string {
			return []string{k.ID, orDash(k.Description), join(k.Roles), join(k.ValidSources), stamp(k.ExpiresAt),
				stamp(k.LastUsedAt), orDash(k.LastUsedAddr), keyState(k, now)}
		})
	})
}

// keyRevoke is keyward apikey revoke KEY_ID.
func keyRevoke(c *adminCmd) int {
	if !c.parse(1, 1) {
		return c.bad()
	}
	return c.remove(keyPath(c.pos[0]), "revoked API key "+c.pos[0])
}

// keyRotate is keyward apikey rotate KEY_ID: a new secret for the same key.
func keyRotate(c *adminCmd) int {
	grace := c.fs.Int("grace", 0, "seconds the old secret stays valid (0: it fails at once)")
	if !c.parse(1, 1) {
		return c.bad()
	}
	if *grace < 0 {
		c.usagef("--grace must not be negative")
		return exitUsage
	}
	var k native.NewAPIKey
	body := map[string]int{"grace_period_seconds": *grace}
	return c.answer("POST", keyPath(c.pos[0])+"/rotate", body, &k, func() { c.showNewKey(k) })
}
