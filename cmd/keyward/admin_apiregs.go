package main

// keyward api-registration list|show|create|update|delete|show-key|rotate|rotate-psrun-secret.

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/keyward/keyward/internal/api/native"
)

func init() {
	adminGroups["api-registration"] = map[string]func(*adminCmd) int{
		"list": regList, "show": regShow, "create": regCreate, "update": regUpdate, "delete": regDelete,
		"show-key": regShowKey, "rotate": regRotate, "rotate-psrun-secret": regRotatePSRUN,
	}
	adminUsage["api-registration"] = `Usage:
  keyward api-registration list [--search TEXT] [--limit N] [--offset N]
  keyward api-registration show ID
  keyward api-registration create --name NAME [--type api_key_policy|api_access_policy] --rule TYPE:VALUE…
                                  [--allow ENTRY[,ENTRY]]… [--enforce-mfa=false] [--client-cert-required]
                                  [--password-required] [--verify-psrun] [--run-as LOGIN] [--access-token-minutes N]
  keyward api-registration update ID [--name NAME] [--rule TYPE:VALUE]… [--allow ENTRY]… [--enforce-mfa=B]
                                  [--client-cert-required=B] [--password-required=B] [--verify-psrun=B] [--access-token-minutes N]
  keyward api-registration delete ID
  keyward api-registration show-key ID              (audited)
  keyward api-registration rotate ID                (the old key fails at once; sessions end)
  keyward api-registration rotate-psrun-secret ID
TYPE is ip, xff or psrun; VALUE an address, a range A-B or a CIDR. ENTRY is user:LOGIN, host:LOGIN
or role:NAME. update --rule replaces the rules (a rule given as before keeps its id); --allow replaces
the allowed list. Keys and secrets are printed only by create, show-key and the rotations.`
}

func regPath(id string) string { return "/api/v1/api-registrations/" + url.PathEscape(id) }

func (c *adminCmd) showReg(g native.APIRegistration) {
	rules := make([]string, 0, len(g.Rules))
	for _, r := range g.Rules {
		rules = append(rules, r.Type+":"+r.Value)
	}
	b := func(p *bool) string {
		if p == nil {
			return ""
		}
		return strconv.FormatBool(*p)
	}
	allowed := ""
	if g.Allowed != nil {
		allowed = join(*g.Allowed)
	}
	minutes := ""
	if g.AccessTokenMinutes > 0 {
		minutes = strconv.Itoa(g.AccessTokenMinutes)
	}
	c.fields(
		"id:", g.ID,
		"name:", g.Name,
		"type:", g.Type,
		"key:", g.KeyMasked,
		"client_id:", g.ClientID,
		"run_as:", g.RunAs,
		"access_token_minutes:", minutes,
		"enforce_mfa:", b(g.EnforceMFA),
		"client_certificate_required:", strconv.FormatBool(g.ClientCertificateRequired),
		"user_password_required:", b(g.UserPasswordRequired),
		"verify_psrun_signature:", b(g.VerifyPSRUNSignature),
		"allowed:", allowed,
		"rules:", join(rules),
		"created_at:", stamp(&g.CreatedAt),
		"key_rotated_at:", stamp(g.KeyRotatedAt),
		"last_used_at:", stamp(g.LastUsedAt),
	)
}

func (c *adminCmd) showSecrets(s native.APIRegistrationSecrets) {
	c.fields("key:", s.Key, "psrun_secret:", s.PSRUNSecret, "client_id:", s.ClientID, "client_secret:", s.ClientSecret)
}

func regList(c *adminCmd) int {
	p := c.paging("only names containing this text", "at most this many (0: the server's default)", "skip this many")
	head := []string{"ID", "NAME", "TYPE", "KEY", "RULES", "LAST USED"}
	return pagedList(c, p, "/api/v1/api-registrations", head, func(g native.APIRegistration) []string {
		key := g.KeyMasked
		if key == "" {
			key = g.ClientID
		}
		return []string{g.ID, g.Name, g.Type, key, strconv.Itoa(len(g.Rules)), stamp(g.LastUsedAt)}
	})
}

func regShow(c *adminCmd) int {
	if !c.parse(1, 1) {
		return c.bad()
	}
	var g native.APIRegistration
	return c.answer("GET", regPath(c.pos[0]), nil, &g, func() { c.showReg(g) })
}

// regFlags are the flags create and update share.
type regFlags struct {
	name, typ, runAs      *string
	mfa, cert, pwd, psrun *bool
	minutes               *int
	rules, allow          *listFlag
}

func (c *adminCmd) regFlags(create bool) regFlags {
	f := regFlags{rules: &listFlag{}, allow: &listFlag{split: true}}
	f.name = c.fs.String("name", "", "the registration's name (unique in the account)")
	if create {
		f.typ = c.fs.String("type", "api_key_policy", "api_key_policy or api_access_policy")
		f.runAs = c.fs.String("run-as", "", "access policy: the login its OAuth tokens sign in as")
	}
	f.mfa = c.fs.Bool("enforce-mfa", true, "ask run-as users with TOTP for a code")
	f.cert = c.fs.Bool("client-cert-required", false, "require a client certificate verified against --client-ca")
	f.pwd = c.fs.Bool("password-required", false, "require the run-as user's password (pwd=[…])")
	f.psrun = c.fs.Bool("verify-psrun", false, "require a PSRUN signature")
	f.minutes = c.fs.Int("access-token-minutes", 60, "access policy: OAuth token lifetime, 1 to 1440")
	c.fs.Var(f.rules, "rule", "TYPE:VALUE, TYPE ip, xff or psrun (repeatable)")
	c.fs.Var(f.allow, "allow", "user:LOGIN, host:LOGIN or role:NAME (comma-separated or repeated)")
	return f
}

// body builds the request body of the flags set; old rules keep their ids.
func (c *adminCmd) regBody(f regFlags, old []native.APIRule) (map[string]any, bool) {
	body := map[string]any{}
	if c.set("name") {
		body["name"] = *f.name
	}
	if f.typ != nil && c.set("type") {
		body["type"] = *f.typ
	}
	if f.runAs != nil && c.set("run-as") {
		body["run_as"] = *f.runAs
	}
	for flag, v := range map[string]*bool{"enforce-mfa": f.mfa, "client-cert-required": f.cert, "password-required": f.pwd, "verify-psrun": f.psrun} {
		if c.set(flag) {
			body[map[string]string{"enforce-mfa": "enforce_mfa", "client-cert-required": "client_certificate_required",
				"password-required": "user_password_required", "verify-psrun": "verify_psrun_signature"}[flag]] = *v
		}
	}
	if c.set("access-token-minutes") {
		body["access_token_minutes"] = *f.minutes
	}
	if f.allow.vals != nil {
		body["allowed"] = f.allow.vals
	}
	if f.rules.vals != nil {
		rules := []native.APIRule{}
		for _, r := range f.rules.vals {
			typ, val, ok := strings.Cut(r, ":")
			if !ok || val == "" {
				c.usagef("--rule takes TYPE:VALUE, got %q", r)
				return nil, false
			}
			nr := native.APIRule{Type: typ, Value: val}
			for _, o := range old {
				if o.Type == typ && o.Value == val {
					nr.ID = o.ID
				}
			}
			rules = append(rules, nr)
		}
		body["rules"] = rules
	}
	return body, true
}

func regCreate(c *adminCmd) int {
	f := c.regFlags(true)
	if !c.parse(0, 0) {
		return c.bad()
	}
	if *f.name == "" {
		c.usagef("--name is required")
		return exitUsage
	}
	body, ok := c.regBody(f, nil)
	if !ok {
		return exitUsage
	}
	var g native.NewAPIRegistration
	return c.answer("POST", "/api/v1/api-registrations", body, &g, func() {
		c.showReg(g.APIRegistration)
		c.showSecrets(native.APIRegistrationSecrets{Key: g.Key, PSRUNSecret: g.PSRUNSecret, ClientSecret: g.ClientSecret})
		fmt.Fprintln(c.stderr, "keyward: keep the secrets above; show-key prints them again (audited)")
	})
}

func regUpdate(c *adminCmd) int {
	f := c.regFlags(false)
	if !c.parse(1, 1) {
		return c.bad()
	}
	var old native.APIRegistration
	if f.rules.vals != nil {
		if _, err := c.fetch("GET", regPath(c.pos[0]), nil, &old); err != nil {
			return c.fail(err)
		}
	}
	body, ok := c.regBody(f, old.Rules)
	if !ok {
		return exitUsage
	}
	if len(body) == 0 {
		c.usagef("nothing to change")
		return exitUsage
	}
	var g native.APIRegistration
	return c.answer("PATCH", regPath(c.pos[0]), body, &g, func() { c.showReg(g) })
}

func regDelete(c *adminCmd) int {
	if !c.parse(1, 1) {
		return c.bad()
	}
	return c.remove(regPath(c.pos[0]), "deleted API registration "+c.pos[0])
}

func (c *adminCmd) regSecrets(method, suffix string) int {
	if !c.parse(1, 1) {
		return c.bad()
	}
	var s native.APIRegistrationSecrets
	return c.answer(method, regPath(c.pos[0])+suffix, nil, &s, func() { c.showSecrets(s) })
}

func regShowKey(c *adminCmd) int     { return c.regSecrets("GET", "/key") }
func regRotate(c *adminCmd) int      { return c.regSecrets("POST", "/rotate") }
func regRotatePSRUN(c *adminCmd) int { return c.regSecrets("POST", "/psrun-secret/rotate") }
