// Package store declares the storage interfaces every backend implements and the sentinels they return.
package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/model"
)

// Sentinels, identical from every backend; check them with errors.Is.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	// ErrInvalidText means a value to store held a NUL byte or invalid
	// UTF-8, which PostgreSQL refuses (a lookup of such text finds nothing:
	// ErrNotFound).
	ErrInvalidText = errors.New("text holds a NUL character or invalid UTF-8")
	// ErrFull means a bounded store (the SQLite backend's in-memory replay
	// cache) has no room left: the caller should retry later.
	ErrFull = errors.New("store is full")
	// ErrSchemaTooNew means the database was migrated by a newer keyward.
	ErrSchemaTooNew = errors.New("database schema is newer than this binary")
	// ErrUnavailable means the backend could not be reached or did not
	// answer in time: no decision can be drawn from it (never "not found").
	ErrUnavailable = errors.New("store unavailable")
)

// ConcurrentAppender is a store whose AppendAudit calls may run at once
// (each its own round trip, no shared lock); AppendWriters says how many.
type ConcurrentAppender interface {
	AppendWriters() int
}

// ChangeFeed is offered by a store that several instances share: it tells
// each of them what the others committed.
type ChangeFeed interface {
	// FollowChanges runs until ctx ends. On each (re)connection it first
	// listens, then calls h.Reload, and only then h.Alive; then it hands
	// every committed change to h.Changed and proves the connection alive
	// at least every 250 ms, however many notifications arrive. A lost connection is reported once to h.Lost
	// and retried at once, then at least every 250 ms.
	FollowChanges(ctx context.Context, h ChangeHandler)
}

// ChangeHandler is what a ChangeFeed drives (the core's caches).
type ChangeHandler interface {
	// Reload reloads every cache from the store.
	Reload(ctx context.Context) error
	// Changed handles one committed change, named by its payload
	// (key:<account>:<id>, principal:<account>:<id>, …); an error makes the
	// feed reconnect and reload. The feed coalesces what queued up: each
	// payload once, one payload for several of a kind that refreshes a
	// whole cache (account, role, authenticator, signing-keys), key
	// payloads in batches to a KeyBatchHandler, and for a backlog it cannot
	// apply one Reload instead (rate-limited).
	Changed(ctx context.Context, payload string) error
	// Alive says every change committed before at has been handed to
	// Changed (or was read by Reload).
	Alive(at time.Time)
	// Lost says the feed lost its connection.
	Lost(err error)
}

// KeyBatchHandler is a ChangeHandler that refreshes many keys in one go. A
// feed hands it the ids of a round's key:<account>:<id> payloads in
// bounded batches, instead of one Changed (one store round trip) each, so
// that a NOTIFY flood naming keys costs little (review r25b R7).
type KeyBatchHandler interface {
	KeysChanged(ctx context.Context, ids []string) error
}

// ItemRef names one object of an account (a principal:<account>:<id>
// payload).
type ItemRef struct{ Account, ID string }

// PrincipalBatchHandler is a ChangeHandler that refreshes many principals
// in one go, as KeyBatchHandler does keys.
type PrincipalBatchHandler interface {
	PrincipalsChanged(ctx context.Context, refs []ItemRef) error
}

// Page asks for part of a list.
type Page struct {
	Search string // substring of the login or name; empty matches all
	Limit  int    // 0 means the backend's default (100)
	Offset int
	// Customers (ListPrincipals only): when not empty, only the principals
	// whose customer is one of them, and the one of id Self whatever its
	// customer; the total counts the same. A principal without a customer
	// is in no list.
	Customers []string
	Self      string
}

// Store is everything keyward keeps. Every write method takes the audit
// event(s) describing it and appends them in the same transaction, so a
// change and its record commit together or not at all. Updaters may run more
// than once (a serialization retry), so they must be pure.
type Store interface {
	AccountStore
	PrincipalStore
	RoleStore
	GrantStore
	KeyStore
	SigningKeyStore
	AuthenticatorStore
	AuditStore
	NonceStore
	AuthorizedKeyStore
	APIRegistrationStore
	SurfaceSessionStore
	SignatureKeyStore
	IdempotencyStore
	ReplayStore
	// Ping reports whether the backend answers.
	Ping(ctx context.Context) error
	// Close releases the backend.
	Close() error
}

// AccountStore keeps tenants.
type AccountStore interface {
	CreateAccount(ctx context.Context, a model.Account, evs ...audit.Event) error
	GetAccount(ctx context.Context, name string) (model.Account, error)
	ListAccounts(ctx context.Context) ([]model.Account, error)
}

// PrincipalStore keeps users and hosts.
type PrincipalStore interface {
	// CreatePrincipal stores p and, if key is not nil, its first API key.
	CreatePrincipal(ctx context.Context, p model.Principal, key *model.APIKey, evs ...audit.Event) error
	GetPrincipal(ctx context.Context, account, id string) (model.Principal, error)
	// GetPrincipals returns those of the principals named by ids that
	// exist, whatever their account, in no particular order (a change feed
	// refreshing many principals in one go).
	GetPrincipals(ctx context.Context, ids []string) ([]model.Principal, error)
	GetPrincipalByLogin(ctx context.Context, account string, kind model.Kind, login string) (model.Principal, error)
	// ListPrincipals returns one page, ordered by login, and the total matching.
	ListPrincipals(ctx context.Context, account string, p Page) ([]model.Principal, int, error)
	UpdatePrincipal(ctx context.Context, account, id string, update func(model.Principal) (model.Principal, error), evs ...audit.Event) (model.Principal, error)
	// DeletePrincipal removes the principal with its keys and grants.
	DeletePrincipal(ctx context.Context, account, id string, evs ...audit.Event) error
	// SearchPrincipals returns one page of the account's principals matching
	// q, in q's order, and how many match in all.
	SearchPrincipals(ctx context.Context, account string, q PrincipalQuery) ([]model.Principal, int, error)
	// PrincipalSearchEntries returns what a search needs of every principal
	// of the account, for an in-memory index.
	PrincipalSearchEntries(ctx context.Context, account string) ([]SearchEntry, error)
}

// SearchEntry is what a search needs of one principal.
type SearchEntry struct {
	ID, Login, Source, Text string
	Kind                    model.Kind
	CreatedAt               time.Time
	// Customer is the principal's customer ("" none), for a session
	// constrained to customers.
	Customer string
}

// PrincipalQuery selects and orders principals; its criteria AND together,
// an empty one matches all. Each of Terms must occur in the principal's
// search text: its login, email, full name and first_name and last_name
// attributes, lower-cased (strings.ToLower), one per line; so terms are
// given lower-cased and without line breaks.
type PrincipalQuery struct {
	Kind   model.Kind
	Terms  []string
	IDs    []string // nil: any; empty: none
	Source string
	// ByCreated orders by creation time, else by login ignoring ASCII case;
	// ties by id. Desc reverses.
	ByCreated, Desc bool
	// Limit 0 means all.
	Limit, Offset int
}

// SearchText is a principal's search text (see PrincipalQuery).
func SearchText(p model.Principal) string {
	return strings.ToLower(strings.Join([]string{p.Login, p.Email, p.FullName, p.Attributes["first_name"], p.Attributes["last_name"]}, "\n"))
}

// RoleStore keeps roles. Role names are unique per account.
type RoleStore interface {
	CreateRole(ctx context.Context, r model.Role, evs ...audit.Event) error
	GetRole(ctx context.Context, account, id string) (model.Role, error)
	GetRoleByName(ctx context.Context, account, name string) (model.Role, error)
	ListRoles(ctx context.Context, account string, p Page) ([]model.Role, int, error)
	UpdateRole(ctx context.Context, account, id string, update func(model.Role) (model.Role, error), evs ...audit.Event) (model.Role, error)
	// DeleteRole removes the role and every grant of it.
	DeleteRole(ctx context.Context, account, id string, evs ...audit.Event) error
	// RoleMemberCounts counts each role's holders: by any grant, and by an
	// explicit one. Roles nobody holds are absent.
	RoleMemberCounts(ctx context.Context, account string) (map[string]MemberCount, error)
}

// MemberCount is how many principals hold a role (All) and how many of
// them by an explicit grant.
type MemberCount struct {
	All, Explicit int
}

// AuthorizedKeyStore keeps users' SSH public keys. A user holds a public
// key (by fingerprint) once: another gives ErrAlreadyExists.
type AuthorizedKeyStore interface {
	CreateAuthorizedKey(ctx context.Context, k model.AuthorizedKey, evs ...audit.Event) error
	GetAuthorizedKey(ctx context.Context, account, id string) (model.AuthorizedKey, error)
	// ListAuthorizedKeys returns the principal's keys, by name then id.
	ListAuthorizedKeys(ctx context.Context, account, principalID string) ([]model.AuthorizedKey, error)
	UpdateAuthorizedKey(ctx context.Context, account, id string, update func(model.AuthorizedKey) (model.AuthorizedKey, error), evs ...audit.Event) (model.AuthorizedKey, error)
	DeleteAuthorizedKey(ctx context.Context, account, id string, evs ...audit.Event) error
}

// GrantStore keeps which principal holds which role.
type GrantStore interface {
	// SetGrants replaces the principal's grants from source (explicit or mapped) with gs.
	SetGrants(ctx context.Context, account, principalID, source string, gs []model.Grant, evs ...audit.Event) error
	ListGrants(ctx context.Context, account, principalID string) ([]model.Grant, error)
	// RoleHolders lists the principals holding the role by any grant
	// (explicit or mapped, whatever its type or period).
	RoleHolders(ctx context.Context, account, roleID string) ([]string, error)
	// ActivateGrant records the first use of a floating grant; a grant already active keeps its time.
	// The events are appended in the same transaction.
	ActivateGrant(ctx context.Context, account, principalID, roleID string, at time.Time, evs ...audit.Event) error
}

// KeyStore keeps API keys, looked up by their public id.
type KeyStore interface {
	CreateAPIKey(ctx context.Context, k model.APIKey, evs ...audit.Event) error
	GetAPIKey(ctx context.Context, id string) (model.APIKey, error)
	// GetConjurKey returns the principal's Conjur API key.
	GetConjurKey(ctx context.Context, account, principalID string) (model.APIKey, error)
	ListAPIKeys(ctx context.Context, account, principalID string) ([]model.APIKey, error)
	// GetAPIKeys returns those of the keys named by ids that exist, in no
	// particular order (a change feed refreshing many keys in one go).
	GetAPIKeys(ctx context.Context, ids []string) ([]model.APIKey, error)
	// EachAPIKey calls fn for every stored key, for warming a cache.
	EachAPIKey(ctx context.Context, fn func(model.APIKey) error) error
	UpdateAPIKey(ctx context.Context, id string, update func(model.APIKey) (model.APIKey, error), evs ...audit.Event) (model.APIKey, error)
	DeleteAPIKey(ctx context.Context, id string, evs ...audit.Event) error
	// TouchAPIKeys records last use; it is bookkeeping, not audited (the use itself is).
	TouchAPIKeys(ctx context.Context, uses []KeyUse) error
}

// KeyUse is one recorded use of an API key.
type KeyUse struct {
	ID   string
	At   time.Time
	Addr string
}

// SigningKeyStore keeps the token signing keys, each of one account (an
// empty Account marks a key from before keys were per account).
type SigningKeyStore interface {
	CreateSigningKey(ctx context.Context, k model.SigningKey, evs ...audit.Event) error
	// ListSigningKeys returns every account's keys, oldest first.
	ListSigningKeys(ctx context.Context) ([]model.SigningKey, error)
	// UpdateSigningKey refuses to change a key's id or account.
	UpdateSigningKey(ctx context.Context, id string, update func(model.SigningKey) (model.SigningKey, error), evs ...audit.Event) (model.SigningKey, error)
	// RotateSigningKey stores k and, in the same transaction, retires every
	// other key of k.Account still signing (RetiredAt k.CreatedAt,
	// ExpiresAt until); other accounts' keys are untouched.
	RotateSigningKey(ctx context.Context, k model.SigningKey, until time.Time, evs ...audit.Event) error
	// DeleteSigningKey removes a key that verifies nothing any more.
	DeleteSigningKey(ctx context.Context, id string, evs ...audit.Event) error
}

// AuthenticatorStore keeps authenticator services, keyed by account, type and service id.
type AuthenticatorStore interface {
	// PutAuthenticator creates or replaces the service.
	PutAuthenticator(ctx context.Context, a model.AuthenticatorService, evs ...audit.Event) error
	GetAuthenticator(ctx context.Context, account, typ, serviceID string) (model.AuthenticatorService, error)
	ListAuthenticators(ctx context.Context, account string) ([]model.AuthenticatorService, error)
	DeleteAuthenticator(ctx context.Context, account, typ, serviceID string, evs ...audit.Event) error
}

// AuditStore keeps the audit records, chained with HMAC-SHA256 under a key
// derived from the master key (records from before that, with plain
// SHA-256, stay until RekeyAudit).
type AuditStore interface {
	// AppendAudit appends events in one transaction, in order.
	AppendAudit(ctx context.Context, evs ...audit.Event) error
	// ListAudit returns one page of an account's records, newest first, and the total.
	ListAudit(ctx context.Context, account string, limit, offset int) ([]audit.Record, int, error)
	// ListAuditFiltered is ListAudit of the records f matches; the total
	// counts them.
	ListAuditFiltered(ctx context.Context, account string, f audit.Filter, limit, offset int) ([]audit.Record, int, error)
	// VerifyAudit walks the whole chain under the store's key: how many
	// records hold, how many of them are unkeyed, and the first broken one.
	VerifyAudit(ctx context.Context) (audit.Check, error)
	// RekeyAudit chains every record again under the store's key and then
	// appends ev, with what it did as its Detail, in one transaction. It
	// refuses a chain that does not verify: chaining it again would hide the
	// break. It returns the check of the chain as it was.
	RekeyAudit(ctx context.Context, ev audit.Event) (audit.Check, error)
	// AuditSince returns up to limit records from sequence number from on,
	// oldest first, each with its PrevHash.
	AuditSince(ctx context.Context, from int64, limit int) ([]audit.Record, error)
	// PruneAudit removes the oldest records, a prefix of the chain up to
	// the first record at or after before, leaving a checkpoint (the last
	// removed record's seq and hash, with a MAC under the chain's key) from
	// which VerifyAudit proves the rest; it appends ev with what it removed
	// as its Detail. It refuses a chain that does not verify. Nothing to
	// remove appends nothing (To is then 0).
	PruneAudit(ctx context.Context, before time.Time, ev audit.Event) (AuditPrune, error)
}

// AuditPrune is what PruneAudit removed: records From to To, leaving
// Checkpoint.
type AuditPrune struct {
	From, To   int64
	Checkpoint audit.Checkpoint
}

// NonceStore remembers one-time values, for replay protection.
type NonceStore interface {
	// UseOnce records key until expires; of concurrent callers exactly one gets true.
	UseOnce(ctx context.Context, key string, expires time.Time) (bool, error)
}

// APIRegistrationStore keeps BeyondInsight-style API registrations. Keys and
// client secrets are found by their HMAC or client id, never by a scan.
type APIRegistrationStore interface {
	// CreateAPIRegistration stores r; a name or key hash already used is ErrAlreadyExists.
	CreateAPIRegistration(ctx context.Context, r model.APIRegistration, evs ...audit.Event) error
	GetAPIRegistration(ctx context.Context, account, id string) (model.APIRegistration, error)
	// GetAPIRegistrationByKeyHash finds a registration by the HMAC of its key or client secret.
	GetAPIRegistrationByKeyHash(ctx context.Context, hash []byte) (model.APIRegistration, error)
	GetAPIRegistrationByClientID(ctx context.Context, clientID string) (model.APIRegistration, error)
	// ListAPIRegistrations returns one page, ordered by name, and the total.
	ListAPIRegistrations(ctx context.Context, account string, p Page) ([]model.APIRegistration, int, error)
	// UpdateAPIRegistration runs update on the stored registration, stores
	// the result and, in the same transaction, ends every session of it.
	UpdateAPIRegistration(ctx context.Context, account, id string, update func(model.APIRegistration) (model.APIRegistration, error), evs ...audit.Event) (model.APIRegistration, error)
	// AddAPIRegistrationHolder adds principalID to the registration's
	// KeyHolders (its version and sessions stay) and returns the
	// registration as stored, with evs in the same transaction.
	AddAPIRegistrationHolder(ctx context.Context, account, id, principalID string, evs ...audit.Event) (model.APIRegistration, error)
	// DeleteAPIRegistration removes the registration with its sessions.
	DeleteAPIRegistration(ctx context.Context, account, id string, evs ...audit.Event) error
	// TouchAPIRegistration records its last use (bookkeeping; the use is audited).
	TouchAPIRegistration(ctx context.Context, id string, at time.Time) error
	// PrincipalNumber returns the principal's stable positive integer,
	// allocating it on first use; numbers are unique across accounts.
	PrincipalNumber(ctx context.Context, account, principalID string) (int64, error)
}

// SurfaceSessionStore keeps server-side sessions of surfaces (PS-Auth
// cookies, pending MFA sign-ins, OAuth tokens), named by the HMAC of their value.
type SurfaceSessionStore interface {
	// CreateSurfaceSession stores s while its registration is at
	// s.RegistrationVersion and its principal is active at s.PrincipalEpoch
	// (else ErrNotFound).
	CreateSurfaceSession(ctx context.Context, s model.SurfaceSession, evs ...audit.Event) error
	GetSurfaceSession(ctx context.Context, hash []byte) (model.SurfaceSession, error)
	// PrincipalSessionEpoch is the principal's session epoch, raised by the
	// store whenever the principal stops being active.
	PrincipalSessionEpoch(ctx context.Context, account, principalID string) (int64, error)
	// TouchSurfaceSession sets the session's last use and its new end.
	TouchSurfaceSession(ctx context.Context, hash []byte, at, expires time.Time) error
	// PurgeSurfaceSessions removes the sessions whose end is at or before now.
	PurgeSurfaceSessions(ctx context.Context, now time.Time) error
	// DeleteSurfaceSession ends a session; ending one that does not exist is no error.
	DeleteSurfaceSession(ctx context.Context, hash []byte, evs ...audit.Event) error
}

// SignatureKeyStore keeps enrolled signature keys (public keys whose
// private halves sign requests).
type SignatureKeyStore interface {
	// CreateSignatureKey stores k; a fingerprint already enrolled for the
	// same principal (account and principal id) is ErrAlreadyExists; another
	// principal may hold the same public key. With rec, the idempotency record is stored in the
	// same transaction, and a live record with its account, scope and key
	// is ErrAlreadyExists too (then nothing is written).
	CreateSignatureKey(ctx context.Context, k model.SignatureKey, rec *model.IdempotencyRecord, evs ...audit.Event) error
	GetSignatureKey(ctx context.Context, id string) (model.SignatureKey, error)
	// ListSignatureKeys returns the principal's keys, oldest first.
	ListSignatureKeys(ctx context.Context, account, principalID string) ([]model.SignatureKey, error)
	DeleteSignatureKey(ctx context.Context, id string, evs ...audit.Event) error
	// TouchSignatureKey records a use (bookkeeping, not audited); an older
	// use than the one stored changes nothing.
	TouchSignatureKey(ctx context.Context, id string, at time.Time) error
}

// IdempotencyStore keeps the answers of creating requests for retries.
type IdempotencyStore interface {
	// CreateAPIKeyOnce stores k and rec in one transaction. A live record
	// (not expired at rec.CreatedAt) with rec's account, scope and key is
	// ErrAlreadyExists, and then nothing is written; an expired one is
	// replaced.
	CreateAPIKeyOnce(ctx context.Context, k model.APIKey, rec model.IdempotencyRecord, evs ...audit.Event) error
	// GetIdempotency returns the record, ErrNotFound if none or expired at now.
	GetIdempotency(ctx context.Context, account, scope, key string, now time.Time) (model.IdempotencyRecord, error)
}

// SignatureSession names the signature session of one key.
type SignatureSession struct {
	Account, PrincipalID, KeyID string
}

// ReplayStore is the replay state of signed requests: nonces used once,
// and each key's session holding the highest accepted timestamp. Every
// operation is atomic across every instance sharing the store.
type ReplayStore interface {
	// UseSignatureNonce records (keyID, nonce) until until: the entry is
	// live while now < until and free once now >= until (every store
	// alike); of concurrent callers exactly one gets true, and a live entry is never dropped to
	// make room (a full bounded store answers ErrFull).
	UseSignatureNonce(ctx context.Context, keyID, nonce string, until, now time.Time) (bool, error)
	// RaiseSignatureSession is the clock check of s's session: a session
	// whose last accepted request is idle or more before now is forgotten
	// first; then a ts (epoch ms) more than skew below the session's
	// highest accepted ts is refused (false, nothing changes); else the
	// highest is raised to ts if above, the last accepted request is now,
	// and it returns true.
	RaiseSignatureSession(ctx context.Context, s SignatureSession, ts int64, skew, idle time.Duration, now time.Time) (bool, error)
	// ForgetSignatureSessions forgets every signature session of the
	// principal (its nonces stay), appends the record ev makes of how many
	// there were with the change (one transaction where the sessions are
	// stored), and says how many there were.
	ForgetSignatureSessions(ctx context.Context, account, principalID string, ev func(n int) audit.Event) (int, error)
}
