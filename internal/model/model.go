// Package model holds the plain record types that the core, the stores and the surfaces share.
package model

import (
	"encoding/json"
	"time"
)

// Kind is the kind of a principal: a human user or a machine host.
type Kind string

// Principal kinds.
const (
	KindUser Kind = "user"
	KindHost Kind = "host"
)

// Status values of a principal.
const (
	StatusActive   = "active"
	StatusDisabled = "disabled"
)

// MFA states of a principal.
const (
	MFANone      = "none"
	MFAEnrolling = "enrolling"
	MFAEnabled   = "enabled"
)

// Account is a tenant owning every other object.
type Account struct {
	Name      string
	CreatedAt time.Time
}

// Principal is a user or a host. Login is unique per account and kind.
type Principal struct {
	ID           string
	Account      string
	Login        string
	Kind         Kind
	Email        string
	DisplayName  string
	FullName     string
	Attributes   map[string]string
	Tags         []string
	Source       string
	Settings     json.RawMessage
	Status       string
	RestrictedTo []string // CIDRs the principal may authenticate from; empty means anywhere
	Annotations  map[string]string
	PasswordHash string // bcrypt; empty when the principal has no password
	// MFA is the second factor's state: MFANone, MFAEnrolling or MFAEnabled.
	MFA string
	// MFASeed is the TOTP seed sealed under the master key (bound to the
	// principal id); nil when MFA is MFANone. Never shown by any read.
	MFASeed []byte
	// MFARecovery are the HMACs of the recovery codes not used yet.
	MFARecovery [][]byte
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// Customer names the customer the principal belongs to ("" none): a
	// key constrained to customers acts only on principals of those.
	Customer string
	// Author is the id of the principal that created it ("" for init's
	// admin and principals from before it was kept); UpdatedBy the last
	// writer's (the author until changed).
	Author    string
	UpdatedBy string
}

// RoleID returns the Conjur role id of the principal: account:kind:login.
func (p Principal) RoleID() string { return p.Account + ":" + string(p.Kind) + ":" + p.Login }

// ConjurLogin returns the login as Conjur clients name it: alice, or host/myapp.
func (p Principal) ConjurLogin() string {
	if p.Kind == KindHost {
		return "host/" + p.Login
	}
	return p.Login
}

// RoleContext restricts when and from where a role's permissions hold.
type RoleContext struct {
	Weekdays  []string `json:"weekdays,omitempty"`
	StartTime string   `json:"start_time,omitempty"`
	EndTime   string   `json:"end_time,omitempty"`
	TimeZone  string   `json:"time_zone,omitempty"`
	IPMasks   []string `json:"ip_masks,omitempty"`
	Block     bool     `json:"block"`
}

// Role is a named set of permissions, optionally limited by a context.
type Role struct {
	ID          string
	Account     string
	Name        string
	Description string
	Permissions []string
	Context     *RoleContext
	BuiltIn     bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// ARN is the AWS IAM role the role stands for ("" for none).
	ARN string
	// SourceRules map users of outside sources to the role by their groups;
	// nil for none.
	SourceRules *SourceRules
	Author      string
	UpdatedBy   string
}

// Source-rule matches: a user matches the rules when any (or all) of them
// name one of its groups.
const (
	MatchAny = "ANY"
	MatchAll = "ALL"
)

// SourceRules is a role's mapping from outside sources' groups.
type SourceRules struct {
	Match string       `json:"match"`
	Rules []SourceRule `json:"rules"`
}

// SourceRule is one group of one source: Source is the source id, Group the
// group (an LDAP group's DN, an OIDC groups-claim value).
type SourceRule struct {
	Source string `json:"source"`
	Group  string `json:"group"`
}

// Grant types.
const (
	GrantPermanent      = "PERMANENT"
	GrantTimeRestricted = "TIME_RESTRICTED"
	GrantFloating       = "FLOATING"
)

// Grant sources.
const (
	GrantExplicit = "explicit"
	GrantMapped   = "mapped"
)

// Period is a validity window of a time-restricted grant.
type Period struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Grant gives a principal a role.
type Grant struct {
	Account        string
	PrincipalID    string
	RoleID         string
	Source         string // explicit or mapped
	Type           string // PERMANENT, TIME_RESTRICTED, FLOATING
	Periods        []Period
	FloatingLength int        // hours, for FLOATING
	ActivatedAt    *time.Time // first use of a FLOATING grant
	CreatedAt      time.Time
}

// APIKey is a self-identifying credential. Only an HMAC of the secret is kept,
// and, for a principal's Conjur key, the secret sealed under the master key.
type APIKey struct {
	ID           string // public id, part of the key itself
	Account      string
	PrincipalID  string
	Description  string
	Conjur       bool   // the principal's one Conjur API key (what Conjur's login returns)
	Hash         []byte // HMAC-SHA256 of the secret
	Sealed       []byte // sealed secret; only for Conjur keys
	PrevHash     []byte // HMAC of the previous secret, valid until PrevUntil
	PrevUntil    *time.Time
	ExpiresAt    *time.Time
	ValidSources []string // CIDRs
	Roles        []string // role ids the key is narrowed to; empty means the owner's roles
	CreatedAt    time.Time
	RotatedAt    *time.Time
	RevokedAt    *time.Time // a revoked key stays as a tombstone so verify can say "revoked"
	LastUsedAt   *time.Time
	LastUsedAddr string
	// Customers constrains the key's sessions to principals of these
	// customers (and the owner itself); empty means unconstrained.
	Customers []string
	// Author is the id of the principal that created the key, UpdatedBy of
	// the last one to rotate or revoke it ("" for keys from before).
	Author    string
	UpdatedBy string
}

// SigningKey signs access tokens of one account. The private half is sealed at rest.
type SigningKey struct {
	ID string
	// Account whose tokens the key signs; a token naming another account
	// never verifies under it. Empty for a key from before keys were per
	// account: it signed every account's tokens and verifies them until it
	// expires, but signs nothing more.
	Account   string
	Alg       string
	Private   []byte // sealed
	Public    []byte // JWK JSON of the public key
	CreatedAt time.Time
	RetiredAt *time.Time // no longer signs; still verifies until ExpiresAt
	ExpiresAt *time.Time // no longer verifies after this
}

// AuthenticatorService is a configured way in: a Conjur webservice conjur/{type}/{service_id}.
type AuthenticatorService struct {
	Account   string
	Type      string
	ServiceID string
	Enabled   bool
	Config    map[string]string // plain values
	Secrets   map[string][]byte // sealed values of secret keys
	Allowed   []string          // user:<login>, host:<login>, role:<name>
	UpdatedAt time.Time
	// DefinedBy is the principal id whose authority the allowed list was
	// checked against when the service was defined or enabled; "" for
	// services from before that check.
	DefinedBy string
}

// AuthorizedKey is a user's SSH public key, in authorized_keys form without
// comment, usable within its validity and from its source addresses.
type AuthorizedKey struct {
	ID            string
	Account       string
	PrincipalID   string
	Name          string
	Comment       string
	PublicKey     string // "<type> <base64>"
	Fingerprint   string // SHA256:<unpadded base64>
	NotBefore     *time.Time
	NotAfter      *time.Time
	ExpiresIn     int64    // seconds, as given
	SourceAddress []string // canonical prefixes
	CreatedAt     time.Time
	UpdatedAt     time.Time
	Author        string
	UpdatedBy     string
}

// API registration types (BeyondInsight).
const (
	APIKeyPolicy    = "api_key_policy"
	APIAccessPolicy = "api_access_policy"
)

// APIRule is one authentication rule of an API registration: Type ip, xff or
// psrun, Value an address, a range a-b or a CIDR.
type APIRule struct {
	ID    string `json:"id"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

// APIRegistration is a BeyondInsight-style API registration: a key policy
// (a 128-hex key signing in as an allowed run-as principal through PS-Auth)
// or an access policy (OAuth client credentials signing in as RunAs). The
// key or client secret is kept as an HMAC (KeyHash, the lookup index) and
// sealed (to be shown again); so is the PSRUN secret.
type APIRegistration struct {
	ID                 string
	Account            string
	Name               string
	Type               string
	EnforceMFA         bool
	ClientCertRequired bool
	PasswordRequired   bool
	VerifyPSRUN        bool
	Allowed            []string // user:<login>, host:<login>, role:<name>
	Rules              []APIRule
	RunAs              string // access policy: the login it signs in as
	DefinedBy          string // principal id of who last wrote the registration (its allowed list or run_as)
	Version            int64  // raised by the store on every update; sessions record the one they were made under
	// KeyHolders are the principal ids that have seen the current key (or
	// client secret, or PSRUN secret) since its last rotation: its creator,
	// rotator and every audited reader. Each must still outrank whoever the
	// registration signs in as.
	KeyHolders         []string
	AccessTokenMinutes int
	ClientID           string // access policy: lowercase GUID
	KeyHash            []byte // HMAC of the key or client secret
	KeySealed          []byte
	KeyLast4           string
	PSRUNSealed        []byte
	CreatedAt          time.Time
	UpdatedAt          time.Time
	KeyRotatedAt       *time.Time
	LastUsedAt         *time.Time
}

// Surface session kinds.
const (
	SessionCookie  = "cookie"  // a signed-in PS-Auth session (ASP.NET_SessionId)
	SessionPending = "pending" // a PS-Auth sign-in waiting for its MFA challenge
	SessionToken   = "token"   // an OAuth access token of an access policy
)

// SurfaceSession is a session a surface keeps server-side (a cookie or an
// opaque token), named by the HMAC of its value, bound to a registration and
// a principal.
type SurfaceSession struct {
	Hash           []byte
	Account        string
	Kind           string
	RegistrationID string
	// RegistrationVersion is the registration's version the session was
	// made under: stored only while the registration is at it.
	RegistrationVersion int64
	PrincipalID         string
	// PrincipalEpoch is the principal's session epoch the sign-in's checks
	// read (store.PrincipalSessionEpoch): the session is stored only while
	// the principal is active at that epoch. Not kept in the row.
	PrincipalEpoch int64
	Level          int
	CreatedAt      time.Time
	LastUsedAt     time.Time
	ExpiresAt      time.Time // absolute end (tokens, pending); idle timeouts are the core's
}

// Signature key algorithms (Argus's ARGUS-SIG-V1).
const (
	SigEd25519   = "ed25519"
	SigECDSAP256 = "ecdsa-p256-sha256"
	SigRSAPSS    = "rsa-pss-sha256"
)

// SignatureKey is an enrolled public key whose private half signs requests
// of its principal. Deleting it removes the row: it is refused at once.
type SignatureKey struct {
	ID          string
	Account     string
	PrincipalID string
	Algorithm   string
	PublicKey   []byte // DER SubjectPublicKeyInfo
	Fingerprint string // SHA256:<unpadded base64>; unique over every account
	Description string
	CreatedAt   time.Time
	LastUsedAt  *time.Time
}

// IdempotencyRecord remembers the answer of a creating request, so a retry
// with the same Idempotency-Key gets it again.
type IdempotencyRecord struct {
	Account string
	// Scope is the caller and route the key was used on.
	Scope string
	Key   string
	// RequestHash is the SHA-256 of the request body.
	RequestHash []byte
	// Answer is what the first request created, sealed under the master key.
	Answer    []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}
