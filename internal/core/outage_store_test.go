package core

// Written for tests from store.Store's method list (regenerate when the
// interface grows).

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

// outageStore is a real store that, once down is set, answers every call
// with store.ErrUnavailable, as the PostgreSQL store does when the database
// refuses or does not answer.
type outageStore struct {
	st   store.Store
	down atomic.Bool
}

var _ store.Store = (*outageStore)(nil)

func (o *outageStore) Ping(ctx context.Context) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.Ping(ctx)
}

func (o *outageStore) Close() error { return o.st.Close() }

func (o *outageStore) CreateAccount(ctx context.Context, a model.Account, evs ...audit.Event) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.CreateAccount(ctx, a, evs...)
}

func (o *outageStore) GetAccount(ctx context.Context, name string) (model.Account, error) {
	if o.down.Load() {
		return model.Account{}, store.ErrUnavailable
	}
	return o.st.GetAccount(ctx, name)
}

func (o *outageStore) ListAccounts(ctx context.Context) ([]model.Account, error) {
	if o.down.Load() {
		return nil, store.ErrUnavailable
	}
	return o.st.ListAccounts(ctx)
}

func (o *outageStore) CreatePrincipal(ctx context.Context, p model.Principal, key *model.APIKey, evs ...audit.Event) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.CreatePrincipal(ctx, p, key, evs...)
}

func (o *outageStore) GetPrincipal(ctx context.Context, account, id string) (model.Principal, error) {
	if o.down.Load() {
		return model.Principal{}, store.ErrUnavailable
	}
	return o.st.GetPrincipal(ctx, account, id)
}

func (o *outageStore) GetPrincipalByLogin(ctx context.Context, account string, kind model.Kind, login string) (model.Principal, error) {
	if o.down.Load() {
		return model.Principal{}, store.ErrUnavailable
	}
	return o.st.GetPrincipalByLogin(ctx, account, kind, login)
}

func (o *outageStore) ListPrincipals(ctx context.Context, account string, p store.Page) ([]model.Principal, int, error) {
	if o.down.Load() {
		return nil, 0, store.ErrUnavailable
	}
	return o.st.ListPrincipals(ctx, account, p)
}

func (o *outageStore) UpdatePrincipal(ctx context.Context, account, id string, update func(model.Principal) (model.Principal, error), evs ...audit.Event) (model.Principal, error) {
	if o.down.Load() {
		return model.Principal{}, store.ErrUnavailable
	}
	return o.st.UpdatePrincipal(ctx, account, id, update, evs...)
}

func (o *outageStore) DeletePrincipal(ctx context.Context, account, id string, evs ...audit.Event) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.DeletePrincipal(ctx, account, id, evs...)
}

func (o *outageStore) CreateRole(ctx context.Context, r model.Role, evs ...audit.Event) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.CreateRole(ctx, r, evs...)
}

func (o *outageStore) GetRole(ctx context.Context, account, id string) (model.Role, error) {
	if o.down.Load() {
		return model.Role{}, store.ErrUnavailable
	}
	return o.st.GetRole(ctx, account, id)
}

func (o *outageStore) GetRoleByName(ctx context.Context, account, name string) (model.Role, error) {
	if o.down.Load() {
		return model.Role{}, store.ErrUnavailable
	}
	return o.st.GetRoleByName(ctx, account, name)
}

func (o *outageStore) ListRoles(ctx context.Context, account string, p store.Page) ([]model.Role, int, error) {
	if o.down.Load() {
		return nil, 0, store.ErrUnavailable
	}
	return o.st.ListRoles(ctx, account, p)
}

func (o *outageStore) UpdateRole(ctx context.Context, account, id string, update func(model.Role) (model.Role, error), evs ...audit.Event) (model.Role, error) {
	if o.down.Load() {
		return model.Role{}, store.ErrUnavailable
	}
	return o.st.UpdateRole(ctx, account, id, update, evs...)
}

func (o *outageStore) DeleteRole(ctx context.Context, account, id string, evs ...audit.Event) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.DeleteRole(ctx, account, id, evs...)
}

func (o *outageStore) SetGrants(ctx context.Context, account, principalID, source string, gs []model.Grant, evs ...audit.Event) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.SetGrants(ctx, account, principalID, source, gs, evs...)
}

func (o *outageStore) ListGrants(ctx context.Context, account, principalID string) ([]model.Grant, error) {
	if o.down.Load() {
		return nil, store.ErrUnavailable
	}
	return o.st.ListGrants(ctx, account, principalID)
}

func (o *outageStore) RoleHolders(ctx context.Context, account, roleID string) ([]string, error) {
	if o.down.Load() {
		return nil, store.ErrUnavailable
	}
	return o.st.RoleHolders(ctx, account, roleID)
}

func (o *outageStore) ActivateGrant(ctx context.Context, account, principalID, roleID string, at time.Time, evs ...audit.Event) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.ActivateGrant(ctx, account, principalID, roleID, at, evs...)
}

func (o *outageStore) CreateAPIKey(ctx context.Context, k model.APIKey, evs ...audit.Event) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.CreateAPIKey(ctx, k, evs...)
}

func (o *outageStore) GetAPIKey(ctx context.Context, id string) (model.APIKey, error) {
	if o.down.Load() {
		return model.APIKey{}, store.ErrUnavailable
	}
	return o.st.GetAPIKey(ctx, id)
}

func (o *outageStore) GetAPIKeys(ctx context.Context, ids []string) ([]model.APIKey, error) {
	if o.down.Load() {
		return nil, store.ErrUnavailable
	}
	return o.st.GetAPIKeys(ctx, ids)
}

func (o *outageStore) GetPrincipals(ctx context.Context, ids []string) ([]model.Principal, error) {
	if o.down.Load() {
		return nil, store.ErrUnavailable
	}
	return o.st.GetPrincipals(ctx, ids)
}

func (o *outageStore) GetConjurKey(ctx context.Context, account, principalID string) (model.APIKey, error) {
	if o.down.Load() {
		return model.APIKey{}, store.ErrUnavailable
	}
	return o.st.GetConjurKey(ctx, account, principalID)
}

func (o *outageStore) ListAPIKeys(ctx context.Context, account, principalID string) ([]model.APIKey, error) {
	if o.down.Load() {
		return nil, store.ErrUnavailable
	}
	return o.st.ListAPIKeys(ctx, account, principalID)
}

func (o *outageStore) EachAPIKey(ctx context.Context, fn func(model.APIKey) error) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.EachAPIKey(ctx, fn)
}

func (o *outageStore) UpdateAPIKey(ctx context.Context, id string, update func(model.APIKey) (model.APIKey, error), evs ...audit.Event) (model.APIKey, error) {
	if o.down.Load() {
		return model.APIKey{}, store.ErrUnavailable
	}
	return o.st.UpdateAPIKey(ctx, id, update, evs...)
}

func (o *outageStore) DeleteAPIKey(ctx context.Context, id string, evs ...audit.Event) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.DeleteAPIKey(ctx, id, evs...)
}

func (o *outageStore) TouchAPIKeys(ctx context.Context, uses []store.KeyUse) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.TouchAPIKeys(ctx, uses)
}

func (o *outageStore) CreateSigningKey(ctx context.Context, k model.SigningKey, evs ...audit.Event) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.CreateSigningKey(ctx, k, evs...)
}

func (o *outageStore) ListSigningKeys(ctx context.Context) ([]model.SigningKey, error) {
	if o.down.Load() {
		return nil, store.ErrUnavailable
	}
	return o.st.ListSigningKeys(ctx)
}

func (o *outageStore) UpdateSigningKey(ctx context.Context, id string, update func(model.SigningKey) (model.SigningKey, error), evs ...audit.Event) (model.SigningKey, error) {
	if o.down.Load() {
		return model.SigningKey{}, store.ErrUnavailable
	}
	return o.st.UpdateSigningKey(ctx, id, update, evs...)
}

func (o *outageStore) RotateSigningKey(ctx context.Context, k model.SigningKey, until time.Time, evs ...audit.Event) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.RotateSigningKey(ctx, k, until, evs...)
}

func (o *outageStore) DeleteSigningKey(ctx context.Context, id string, evs ...audit.Event) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.DeleteSigningKey(ctx, id, evs...)
}

func (o *outageStore) PutAuthenticator(ctx context.Context, a model.AuthenticatorService, evs ...audit.Event) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.PutAuthenticator(ctx, a, evs...)
}

func (o *outageStore) GetAuthenticator(ctx context.Context, account, typ, serviceID string) (model.AuthenticatorService, error) {
	if o.down.Load() {
		return model.AuthenticatorService{}, store.ErrUnavailable
	}
	return o.st.GetAuthenticator(ctx, account, typ, serviceID)
}

func (o *outageStore) ListAuthenticators(ctx context.Context, account string) ([]model.AuthenticatorService, error) {
	if o.down.Load() {
		return nil, store.ErrUnavailable
	}
	return o.st.ListAuthenticators(ctx, account)
}

func (o *outageStore) DeleteAuthenticator(ctx context.Context, account, typ, serviceID string, evs ...audit.Event) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.DeleteAuthenticator(ctx, account, typ, serviceID, evs...)
}

func (o *outageStore) AppendAudit(ctx context.Context, evs ...audit.Event) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.AppendAudit(ctx, evs...)
}

func (o *outageStore) ListAudit(ctx context.Context, account string, limit, offset int) ([]audit.Record, int, error) {
	if o.down.Load() {
		return nil, 0, store.ErrUnavailable
	}
	return o.st.ListAudit(ctx, account, limit, offset)
}

func (o *outageStore) VerifyAudit(ctx context.Context) (audit.Check, error) {
	if o.down.Load() {
		return audit.Check{}, store.ErrUnavailable
	}
	return o.st.VerifyAudit(ctx)
}

func (o *outageStore) RekeyAudit(ctx context.Context, ev audit.Event) (audit.Check, error) {
	if o.down.Load() {
		return audit.Check{}, store.ErrUnavailable
	}
	return o.st.RekeyAudit(ctx, ev)
}

func (o *outageStore) AuditSince(ctx context.Context, from int64, limit int) ([]audit.Record, error) {
	if o.down.Load() {
		return nil, store.ErrUnavailable
	}
	return o.st.AuditSince(ctx, from, limit)
}

func (o *outageStore) PruneAudit(ctx context.Context, before time.Time, ev audit.Event) (store.AuditPrune, error) {
	if o.down.Load() {
		return store.AuditPrune{}, store.ErrUnavailable
	}
	return o.st.PruneAudit(ctx, before, ev)
}

func (o *outageStore) UseOnce(ctx context.Context, key string, expires time.Time) (bool, error) {
	if o.down.Load() {
		return false, store.ErrUnavailable
	}
	return o.st.UseOnce(ctx, key, expires)
}

func (o *outageStore) CreateAPIRegistration(ctx context.Context, r model.APIRegistration, evs ...audit.Event) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.CreateAPIRegistration(ctx, r, evs...)
}

func (o *outageStore) GetAPIRegistration(ctx context.Context, account, id string) (model.APIRegistration, error) {
	if o.down.Load() {
		return model.APIRegistration{}, store.ErrUnavailable
	}
	return o.st.GetAPIRegistration(ctx, account, id)
}

func (o *outageStore) GetAPIRegistrationByKeyHash(ctx context.Context, hash []byte) (model.APIRegistration, error) {
	if o.down.Load() {
		return model.APIRegistration{}, store.ErrUnavailable
	}
	return o.st.GetAPIRegistrationByKeyHash(ctx, hash)
}

func (o *outageStore) GetAPIRegistrationByClientID(ctx context.Context, clientID string) (model.APIRegistration, error) {
	if o.down.Load() {
		return model.APIRegistration{}, store.ErrUnavailable
	}
	return o.st.GetAPIRegistrationByClientID(ctx, clientID)
}

func (o *outageStore) ListAPIRegistrations(ctx context.Context, account string, p store.Page) ([]model.APIRegistration, int, error) {
	if o.down.Load() {
		return nil, 0, store.ErrUnavailable
	}
	return o.st.ListAPIRegistrations(ctx, account, p)
}

func (o *outageStore) UpdateAPIRegistration(ctx context.Context, account, id string, update func(model.APIRegistration) (model.APIRegistration, error), evs ...audit.Event) (model.APIRegistration, error) {
	if o.down.Load() {
		return model.APIRegistration{}, store.ErrUnavailable
	}
	return o.st.UpdateAPIRegistration(ctx, account, id, update, evs...)
}

func (o *outageStore) DeleteAPIRegistration(ctx context.Context, account, id string, evs ...audit.Event) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.DeleteAPIRegistration(ctx, account, id, evs...)
}

func (o *outageStore) TouchAPIRegistration(ctx context.Context, id string, at time.Time) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.TouchAPIRegistration(ctx, id, at)
}

func (o *outageStore) PrincipalNumber(ctx context.Context, account, principalID string) (int64, error) {
	if o.down.Load() {
		return 0, store.ErrUnavailable
	}
	return o.st.PrincipalNumber(ctx, account, principalID)
}

func (o *outageStore) CreateSurfaceSession(ctx context.Context, s model.SurfaceSession, evs ...audit.Event) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.CreateSurfaceSession(ctx, s, evs...)
}

func (o *outageStore) GetSurfaceSession(ctx context.Context, hash []byte) (model.SurfaceSession, error) {
	if o.down.Load() {
		return model.SurfaceSession{}, store.ErrUnavailable
	}
	return o.st.GetSurfaceSession(ctx, hash)
}

func (o *outageStore) TouchSurfaceSession(ctx context.Context, hash []byte, at, expires time.Time) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.TouchSurfaceSession(ctx, hash, at, expires)
}

func (o *outageStore) PurgeSurfaceSessions(ctx context.Context, now time.Time) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.PurgeSurfaceSessions(ctx, now)
}

func (o *outageStore) DeleteSurfaceSession(ctx context.Context, hash []byte, evs ...audit.Event) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.DeleteSurfaceSession(ctx, hash, evs...)
}

func (o *outageStore) CreateSignatureKey(ctx context.Context, k model.SignatureKey, rec *model.IdempotencyRecord, evs ...audit.Event) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.CreateSignatureKey(ctx, k, rec, evs...)
}

func (o *outageStore) GetSignatureKey(ctx context.Context, id string) (model.SignatureKey, error) {
	if o.down.Load() {
		return model.SignatureKey{}, store.ErrUnavailable
	}
	return o.st.GetSignatureKey(ctx, id)
}

func (o *outageStore) ListSignatureKeys(ctx context.Context, account, principalID string) ([]model.SignatureKey, error) {
	if o.down.Load() {
		return nil, store.ErrUnavailable
	}
	return o.st.ListSignatureKeys(ctx, account, principalID)
}

func (o *outageStore) DeleteSignatureKey(ctx context.Context, id string, evs ...audit.Event) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.DeleteSignatureKey(ctx, id, evs...)
}

func (o *outageStore) TouchSignatureKey(ctx context.Context, id string, at time.Time) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.TouchSignatureKey(ctx, id, at)
}

func (o *outageStore) CreateAPIKeyOnce(ctx context.Context, k model.APIKey, rec model.IdempotencyRecord, evs ...audit.Event) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.CreateAPIKeyOnce(ctx, k, rec, evs...)
}

func (o *outageStore) GetIdempotency(ctx context.Context, account, scope, key string, now time.Time) (model.IdempotencyRecord, error) {
	if o.down.Load() {
		return model.IdempotencyRecord{}, store.ErrUnavailable
	}
	return o.st.GetIdempotency(ctx, account, scope, key, now)
}

func (o *outageStore) UseSignatureNonce(ctx context.Context, keyID, nonce string, until, now time.Time) (bool, error) {
	if o.down.Load() {
		return false, store.ErrUnavailable
	}
	return o.st.UseSignatureNonce(ctx, keyID, nonce, until, now)
}

func (o *outageStore) RaiseSignatureSession(ctx context.Context, s store.SignatureSession, ts int64, skew, idle time.Duration, now time.Time) (bool, error) {
	if o.down.Load() {
		return false, store.ErrUnavailable
	}
	return o.st.RaiseSignatureSession(ctx, s, ts, skew, idle, now)
}

func (o *outageStore) ForgetSignatureSessions(ctx context.Context, account, principalID string, ev func(int) audit.Event) (int, error) {
	if o.down.Load() {
		return 0, store.ErrUnavailable
	}
	return o.st.ForgetSignatureSessions(ctx, account, principalID, ev)
}

func (o *outageStore) ListAuditFiltered(ctx context.Context, account string, f audit.Filter, limit, offset int) ([]audit.Record, int, error) {
	if o.down.Load() {
		return nil, 0, store.ErrUnavailable
	}
	return o.st.ListAuditFiltered(ctx, account, f, limit, offset)
}

func (o *outageStore) AddAPIRegistrationHolder(ctx context.Context, account, id, principalID string, evs ...audit.Event) (model.APIRegistration, error) {
	if o.down.Load() {
		return model.APIRegistration{}, store.ErrUnavailable
	}
	return o.st.AddAPIRegistrationHolder(ctx, account, id, principalID, evs...)
}

func (o *outageStore) PrincipalSessionEpoch(ctx context.Context, account, principalID string) (int64, error) {
	if o.down.Load() {
		return 0, store.ErrUnavailable
	}
	return o.st.PrincipalSessionEpoch(ctx, account, principalID)
}

func (o *outageStore) SearchPrincipals(ctx context.Context, account string, q store.PrincipalQuery) ([]model.Principal, int, error) {
	if o.down.Load() {
		return nil, 0, store.ErrUnavailable
	}
	return o.st.SearchPrincipals(ctx, account, q)
}

func (o *outageStore) PrincipalSearchEntries(ctx context.Context, account string) ([]store.SearchEntry, error) {
	if o.down.Load() {
		return nil, store.ErrUnavailable
	}
	return o.st.PrincipalSearchEntries(ctx, account)
}

func (o *outageStore) RoleMemberCounts(ctx context.Context, account string) (map[string]store.MemberCount, error) {
	if o.down.Load() {
		return nil, store.ErrUnavailable
	}
	return o.st.RoleMemberCounts(ctx, account)
}

func (o *outageStore) CreateAuthorizedKey(ctx context.Context, k model.AuthorizedKey, evs ...audit.Event) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.CreateAuthorizedKey(ctx, k, evs...)
}

func (o *outageStore) GetAuthorizedKey(ctx context.Context, account, id string) (model.AuthorizedKey, error) {
	if o.down.Load() {
		return model.AuthorizedKey{}, store.ErrUnavailable
	}
	return o.st.GetAuthorizedKey(ctx, account, id)
}

func (o *outageStore) ListAuthorizedKeys(ctx context.Context, account, principalID string) ([]model.AuthorizedKey, error) {
	if o.down.Load() {
		return nil, store.ErrUnavailable
	}
	return o.st.ListAuthorizedKeys(ctx, account, principalID)
}

func (o *outageStore) UpdateAuthorizedKey(ctx context.Context, account, id string, update func(model.AuthorizedKey) (model.AuthorizedKey, error), evs ...audit.Event) (model.AuthorizedKey, error) {
	if o.down.Load() {
		return model.AuthorizedKey{}, store.ErrUnavailable
	}
	return o.st.UpdateAuthorizedKey(ctx, account, id, update, evs...)
}

func (o *outageStore) DeleteAuthorizedKey(ctx context.Context, account, id string, evs ...audit.Event) error {
	if o.down.Load() {
		return store.ErrUnavailable
	}
	return o.st.DeleteAuthorizedKey(ctx, account, id, evs...)
}
