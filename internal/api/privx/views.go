package privx

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/model"
)

// stamp renders a time as PrivX does: RFC 3339, UTC, seconds.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

func orEmpty(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}

// Attribute is one of a user's attributes.
type Attribute struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// MFASeed is the seed of an MFA enrolment in progress.
type MFASeed struct {
	SeedString string `json:"seed_string"`
	SeedQRCode string `json:"seed_qr_code"`
}

// MFA is a user's second factor.
type MFA struct {
	Status          string   `json:"status"`
	UserMFAStatus   string   `json:"user_mfa_status"`
	MobileMFAStatus string   `json:"mobile_mfa_status"`
	Seed            *MFASeed `json:"seed,omitempty"`
}

// User is PrivX's user object. Where PrivX and its SDK name a member
// differently, both are present.
type User struct {
	ID                  string          `json:"id"`
	SourceUserID        *string         `json:"source_user_id"`
	Created             string          `json:"created"`
	Updated             string          `json:"updated"`
	Author              string          `json:"author"`
	UpdatedByOld        string          `json:"updatedby"`
	UpdatedBy           string          `json:"updated_by"`
	Principal           string          `json:"principal"`
	Source              string          `json:"source"`
	SourceType          string          `json:"source_type"`
	Tags                []string        `json:"tags"`
	Roles               []GrantItem     `json:"roles"`
	Attributes          []Attribute     `json:"attributes"`
	Permissions         []string        `json:"permissions"`
	FirstName           string          `json:"first_name"`
	GivenName           string          `json:"given_name"`
	LastName            string          `json:"last_name"`
	FullName            string          `json:"full_name"`
	JobTitle            string          `json:"job_title"`
	Company             string          `json:"company"`
	Department          string          `json:"department"`
	Email               string          `json:"email"`
	Telephone           string          `json:"telephone"`
	Locale              string          `json:"locale"`
	DistinguishedName   string          `json:"distinguished_name"`
	Comment             string          `json:"comment"`
	MFA                 MFA             `json:"mfa"`
	StaleAccessToken    bool            `json:"stale_access_token"`
	AuthorizedKeys      []AuthorizedKey `json:"authorized_keys"`
	WebAuthnCredentials []struct{}      `json:"webauthn_credentials"`
	Settings            json.RawMessage `json:"settings,omitempty"`
}

func mfaStatus(state string) string {
	switch state {
	case model.MFAEnrolling:
		return "UNINITIALIZED"
	case model.MFAEnabled:
		return "ENABLED"
	}
	return "DISABLED"
}

// userView renders a user with the given grants (every grant, or those in
// effect) and permissions.
func userView(d core.UserDetail, grants []core.GrantInfo, counts map[string]core.MemberCount, seed *core.MFAEnrollment, sourceType string) User {
	p := d.Principal
	attr := p.Attributes
	u := User{
		ID: p.ID, Created: stamp(p.CreatedAt), Updated: stamp(p.UpdatedAt), Author: p.Author,
		UpdatedByOld: p.UpdatedBy, UpdatedBy: p.UpdatedBy, Principal: p.Login, Source: p.Source, SourceType: sourceType,
		Tags: orEmpty(p.Tags), Roles: make([]GrantItem, 0, len(grants)), Attributes: make([]Attribute, 0, len(attr)),
		Permissions: orEmpty(d.Permissions), FirstName: attr["first_name"], GivenName: attr["first_name"],
		LastName: attr["last_name"], FullName: p.FullName, JobTitle: attr["job_title"], Company: attr["company"],
		Department: attr["department"], Email: p.Email, Telephone: attr["telephone"], Locale: attr["locale"],
		DistinguishedName: attr["distinguished_name"], Comment: attr["comment"],
		MFA:            MFA{Status: mfaStatus(p.MFA), UserMFAStatus: mfaStatus(p.MFA), MobileMFAStatus: "DISABLED"},
		AuthorizedKeys: make([]AuthorizedKey, 0, len(d.AuthorizedKeys)), WebAuthnCredentials: []struct{}{},
	}
	if u.Source == "" {
		u.Source = "local"
	}
	if u.Source != "local" {
		login := p.Login
		u.SourceUserID = &login
	}
	for _, k := range slices.Sorted(maps.Keys(attr)) {
		u.Attributes = append(u.Attributes, Attribute{Key: k, Value: attr[k]})
	}
	for _, g := range grants {
		u.Roles = append(u.Roles, grantItem(g, counts))
	}
	for _, k := range d.AuthorizedKeys {
		u.AuthorizedKeys = append(u.AuthorizedKeys, keyView(k, p))
	}
	if seed != nil {
		u.MFA.Seed = &MFASeed{SeedString: seed.Seed, SeedQRCode: "data:image/png;base64," + base64.StdEncoding.EncodeToString(seed.QR)}
	}
	return u
}

// Context is a role's context (PrivX's contextual limit).
type Context struct {
	Enabled   bool     `json:"enabled"`
	BlockRole bool     `json:"block_role"`
	Validity  []string `json:"validity"`
	StartTime string   `json:"start_time"`
	EndTime   string   `json:"end_time"`
	TimeZone  string   `json:"timezone"`
	IPMasks   []string `json:"ip_masks"`
}

// SourceRule is a role mapping rule (type GROUP holds RULEs).
type SourceRule struct {
	Type         string       `json:"type"`
	Match        string       `json:"match,omitempty"`
	Source       string       `json:"source,omitempty"`
	SearchString string       `json:"search_string,omitempty"`
	Rules        []SourceRule `json:"rules"`
}

// Role is PrivX's role object.
type Role struct {
	ID                        string     `json:"id"`
	Name                      string     `json:"name"`
	Comment                   string     `json:"comment"`
	Permissions               []string   `json:"permissions"`
	ARN                       string     `json:"arn"`
	Context                   Context    `json:"context"`
	SourceRules               SourceRule `json:"source_rules"`
	Explicit                  bool       `json:"explicit"`
	Implicit                  bool       `json:"implicit"`
	System                    bool       `json:"system"`
	MemberCount               int        `json:"member_count"`
	ExplicitCount             int        `json:"explicit_count"`
	AccessGroupID             string     `json:"access_group_id"`
	OwnerSrc                  string     `json:"owner_src"`
	PrincipalPublicKeyStrings []string   `json:"principal_public_key_strings"`
	PermitAgent               bool       `json:"permit_agent"`
	Created                   string     `json:"created"`
	Updated                   string     `json:"updated"`
	Author                    string     `json:"author"`
	UpdatedByOld              string     `json:"updatedby"`
	UpdatedBy                 string     `json:"updated_by"`
}

func roleView(r model.Role, counts map[string]core.MemberCount) Role {
	out := Role{
		ID: r.ID, Name: r.Name, Comment: r.Description, Permissions: orEmpty(slices.Sorted(slices.Values(r.Permissions))),
		ARN: r.ARN, Context: Context{Validity: []string{}, IPMasks: []string{}},
		SourceRules: SourceRule{Type: "GROUP", Match: model.MatchAny, Rules: []SourceRule{}},
		System:      r.BuiltIn, MemberCount: counts[r.ID].All, ExplicitCount: counts[r.ID].Explicit,
		PrincipalPublicKeyStrings: []string{}, Created: stamp(r.CreatedAt), Updated: stamp(r.UpdatedAt),
		Author: r.Author, UpdatedByOld: r.UpdatedBy, UpdatedBy: r.UpdatedBy,
	}
	if rc := r.Context; rc != nil {
		out.Context = Context{Enabled: true, BlockRole: rc.Block, Validity: make([]string, 0, len(rc.Weekdays)),
			StartTime: rc.StartTime, EndTime: rc.EndTime, TimeZone: rc.TimeZone, IPMasks: orEmpty(rc.IPMasks)}
		for _, d := range rc.Weekdays {
			out.Context.Validity = append(out.Context.Validity, strings.ToUpper(d))
		}
	}
	if sr := r.SourceRules; sr != nil {
		out.SourceRules.Match = sr.Match
		for _, rule := range sr.Rules {
			out.SourceRules.Rules = append(out.SourceRules.Rules, SourceRule{Type: "RULE", Source: rule.Source,
				SearchString: rule.Group, Rules: []SourceRule{}})
		}
	}
	return out
}

// Period is a grant's validity period.
type Period struct {
	GrantStart string `json:"grant_start"`
	GrantEnd   string `json:"grant_end"`
}

// GrantItem is a role as a user holds it.
type GrantItem struct {
	Role
	GrantType            string   `json:"grant_type"`
	GrantValidityPeriods []Period `json:"grant_validity_periods"`
	FloatingLength       int      `json:"floating_length"`
	GrantStart           string   `json:"grant_start,omitempty"`
	GrantEnd             string   `json:"grant_end,omitempty"`
}

func grantItem(g core.GrantInfo, counts map[string]core.MemberCount) GrantItem {
	it := GrantItem{Role: roleView(g.Role, counts), GrantType: g.Grant.Type, GrantValidityPeriods: []Period{},
		FloatingLength: g.Grant.FloatingLength}
	it.Explicit, it.Implicit = g.Explicit, g.Implicit
	for _, p := range g.Grant.Periods {
		it.GrantValidityPeriods = append(it.GrantValidityPeriods, Period{GrantStart: stamp(p.Start), GrantEnd: stamp(p.End)})
	}
	if g.Grant.Type == model.GrantFloating && g.Grant.ActivatedAt != nil {
		it.GrantStart = stamp(*g.Grant.ActivatedAt)
		it.GrantEnd = stamp(g.Grant.ActivatedAt.Add(time.Duration(g.Grant.FloatingLength) * time.Hour))
	}
	return it
}

// AuthorizedKey is PrivX's authorized key object.
type AuthorizedKey struct {
	ID            string   `json:"id"`
	UserID        string   `json:"user_id"`
	Username      string   `json:"username"`
	Source        string   `json:"source"`
	Name          string   `json:"name"`
	Comment       string   `json:"comment"`
	PublicKey     string   `json:"public_key"`
	Fingerprints  []string `json:"fingerprints"`
	NotBefore     string   `json:"not_before,omitempty"`
	NotAfter      string   `json:"not_after,omitempty"`
	ExpiresIn     int64    `json:"expires_in"`
	SourceAddress []string `json:"source_address"`
	Created       string   `json:"created"`
	Updated       string   `json:"updated"`
	Author        string   `json:"author"`
	UpdatedBy     string   `json:"updated_by"`
}

func keyView(k model.AuthorizedKey, owner model.Principal) AuthorizedKey {
	out := AuthorizedKey{ID: k.ID, UserID: k.PrincipalID, Username: owner.Login, Source: owner.Source, Name: k.Name,
		Comment: k.Comment, PublicKey: k.PublicKey, Fingerprints: []string{k.Fingerprint}, ExpiresIn: k.ExpiresIn,
		SourceAddress: orEmpty(k.SourceAddress), Created: stamp(k.CreatedAt), Updated: stamp(k.UpdatedAt),
		Author: k.Author, UpdatedBy: k.UpdatedBy}
	if out.Source == "" {
		out.Source = "local"
	}
	if k.NotBefore != nil {
		out.NotBefore = stamp(*k.NotBefore)
	}
	if k.NotAfter != nil {
		out.NotAfter = stamp(*k.NotAfter)
	}
	return out
}
