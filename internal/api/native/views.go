package native

import (
	"encoding/json"
	"time"

	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/model"
)

// User is a principal as the native API shows it. It never holds a secret.
type User struct {
	ID           string            `json:"id"`
	Login        string            `json:"login"`
	Kind         string            `json:"kind"`
	RoleID       string            `json:"role_id"`
	Email        string            `json:"email,omitempty"`
	DisplayName  string            `json:"display_name,omitempty"`
	FullName     string            `json:"full_name,omitempty"`
	Attributes   map[string]string `json:"attributes"`
	Tags         []string          `json:"tags"`
	Source       string            `json:"source"`
	Settings     json.RawMessage   `json:"settings,omitempty"`
	Status       string            `json:"status"`
	RestrictedTo []string          `json:"restricted_to"`
	Annotations  map[string]string `json:"annotations"`
	HasPassword  bool              `json:"has_password"`
	MFA          string            `json:"mfa"`      // none, enrolling or enabled; the seed is never shown here
	Customer     string            `json:"customer"` // "" when none
	CreatedAt    time.Time         `json:"created_at"`
	UpdatedAt    time.Time         `json:"updated_at"`
}

func userView(p model.Principal) User {
	u := User{ID: p.ID, Login: p.Login, Kind: string(p.Kind), RoleID: p.RoleID(), Email: p.Email, DisplayName: p.DisplayName,
		FullName: p.FullName, Attributes: p.Attributes, Tags: p.Tags, Source: p.Source, Settings: p.Settings, Status: p.Status,
		RestrictedTo: p.RestrictedTo, Annotations: p.Annotations, HasPassword: p.PasswordHash != "", MFA: p.MFA, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
		Customer: p.Customer}
	if u.MFA == "" {
		u.MFA = model.MFANone
	}
	if u.Attributes == nil {
		u.Attributes = map[string]string{}
	}
	if u.Annotations == nil {
		u.Annotations = map[string]string{}
	}
	if u.Tags == nil {
		u.Tags = []string{}
	}
	if u.RestrictedTo == nil {
		u.RestrictedTo = []string{}
	}
	return u
}

// CreatedUser is the answer to a create: the user and its initial API key.
type CreatedUser struct {
	User
	APIKey string `json:"api_key"`
}

// Role is a role as the native API shows it.
type Role struct {
	ID          string             `json:"id"`
	Name        string             `json:"name"`
	Description string             `json:"description"`
	Permissions []string           `json:"permissions"`
	Context     *model.RoleContext `json:"context,omitempty"`
	BuiltIn     bool               `json:"built_in"`
	CreatedAt   time.Time          `json:"created_at"`
	UpdatedAt   time.Time          `json:"updated_at"`
}

func roleView(r model.Role) Role {
	perms := r.Permissions
	if perms == nil {
		perms = []string{}
	}
	return Role{ID: r.ID, Name: r.Name, Description: r.Description, Permissions: perms, Context: r.Context,
		BuiltIn: r.BuiltIn, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// Grant is one role a user holds.
type Grant struct {
	ID             string         `json:"id"`
	Type           string         `json:"type"`
	Source         string         `json:"source"`
	Periods        []model.Period `json:"periods,omitempty"`
	FloatingLength int            `json:"floating_length,omitempty"`
	ActivatedAt    *time.Time     `json:"activated_at,omitempty"`
}

func grantViews(gs []model.Grant) []Grant {
	out := make([]Grant, 0, len(gs))
	for _, g := range gs {
		out = append(out, Grant{ID: g.RoleID, Type: g.Type, Source: g.Source, Periods: g.Periods, FloatingLength: g.FloatingLength, ActivatedAt: g.ActivatedAt})
	}
	return out
}

// APIKey is a key as the native API lists it: never its secret.
type APIKey struct {
	ID           string     `json:"id"`
	PrincipalID  string     `json:"principal_id"`
	Description  string     `json:"description"`
	Conjur       bool       `json:"conjur"`
	ValidSources []string   `json:"valid_sources"`
	Roles        []string   `json:"roles"`
	ExpiresAt    *time.Time `json:"expires_at,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	RotatedAt    *time.Time `json:"rotated_at,omitempty"`
	GraceUntil   *time.Time `json:"grace_until,omitempty"`
	RevokedAt    *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt   *time.Time `json:"last_used_at"`
	LastUsedAddr string     `json:"last_used_addr"`
}

func keyView(k model.APIKey) APIKey {
	v := APIKey{ID: k.ID, PrincipalID: k.PrincipalID, Description: k.Description, Conjur: k.Conjur, ValidSources: k.ValidSources,
		Roles: k.Roles, ExpiresAt: k.ExpiresAt, CreatedAt: k.CreatedAt, RotatedAt: k.RotatedAt, GraceUntil: k.PrevUntil,
		RevokedAt: k.RevokedAt, LastUsedAt: k.LastUsedAt, LastUsedAddr: k.LastUsedAddr}
	if v.ValidSources == nil {
		v.ValidSources = []string{}
	}
	if v.Roles == nil {
		v.Roles = []string{}
	}
	return v
}

// NewAPIKey is a key with its secret: only in the answer to create and rotate.
type NewAPIKey struct {
	APIKey
	Key string `json:"key"`
}

// List is every list answer's shape.
type List[T any] struct {
	Items []T `json:"items"`
	Total int `json:"total"`
}

// AuditRecord is one audit record.
type AuditRecord = core.AuditRecord

// Authenticator is an authenticator service as the native API shows it.
type Authenticator struct {
	Type      string            `json:"type"`
	ServiceID string            `json:"service_id,omitempty"`
	Enabled   bool              `json:"enabled"`
	Config    map[string]string `json:"config"`
	Allowed   []string          `json:"allowed"`
	Status    string            `json:"status"`
	// Warnings say how a valid configuration is weaker than it could be
	// (an OIDC id-token flow without client-id accepts any client's tokens).
	Warnings  []string  `json:"warnings,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

func authnView(v core.AuthenticatorView) Authenticator {
	return Authenticator{Type: v.Type, ServiceID: v.ServiceID, Enabled: v.Enabled, Config: v.Config, Allowed: v.Allowed, Status: v.Status,
		Warnings: v.Warnings, UpdatedAt: v.UpdatedAt}
}
