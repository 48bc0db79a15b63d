package sqlstore

import (
	"context"
	"fmt"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

const authnCols = "account, type, service_id, enabled, config, secrets, allowed, updated_at, defined_by"

func scanAuthenticator(r Rows) (model.AuthenticatorService, error) {
	var a model.AuthenticatorService
	err := r.Scan(&a.Account, &a.Type, &a.ServiceID, &a.Enabled, jsonCol{&a.Config}, jsonCol{&a.Secrets},
		jsonCol{&a.Allowed}, timeCol{&a.UpdatedAt}, &a.DefinedBy)
	return a, err
}

// PutAuthenticator creates or replaces the service.
func (s *Store) PutAuthenticator(ctx context.Context, a model.AuthenticatorService, evs ...audit.Event) error {
	js, err := jsonArgs(a.Config, a.Secrets, a.Allowed)
	if err != nil {
		return fmt.Errorf("put authenticator %s/%s: %w", a.Type, a.ServiceID, err)
	}
	err = s.write(ctx, ReadCommitted, evs, changed("authenticator:"+a.Account+":"+a.Type+"/"+a.ServiceID), func(q Querier) error {
		_, err := q.Exec(ctx, "INSERT INTO authenticators ("+authnCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)
			ON CONFLICT (account, type, service_id) DO UPDATE SET enabled = excluded.enabled,
			config = excluded.config, secrets = excluded.secrets, allowed = excluded.allowed,
			updated_at = excluded.updated_at, defined_by = excluded.defined_by`,
			a.Account, a.Type, a.ServiceID, a.Enabled, js[0], js[1], js[2], s.db.Time(a.UpdatedAt), a.DefinedBy)
		return s.constraint(err)
	})
	if err != nil {
		return fmt.Errorf("put authenticator %s/%s of %s: %w", a.Type, a.ServiceID, a.Account, err)
	}
	return nil
}

// GetAuthenticator returns the account's service of that type and id.
func (s *Store) GetAuthenticator(ctx context.Context, account, typ, serviceID string) (model.AuthenticatorService, error) {
	var a model.AuthenticatorService
	err := queryOne(ctx, s.db.Pool(), func(r Rows) (err error) { a, err = scanAuthenticator(r); return err },
		"SELECT "+authnCols+" FROM authenticators WHERE account = $1 AND type = $2 AND service_id = $3", account, typ, serviceID)
	if err != nil {
		return model.AuthenticatorService{}, fmt.Errorf("get authenticator %s/%s of %s: %w", typ, serviceID, account, notFound(err))
	}
	return a, nil
}

// ListAuthenticators returns the account's services by type and id.
func (s *Store) ListAuthenticators(ctx context.Context, account string) ([]model.AuthenticatorService, error) {
	var as []model.AuthenticatorService
	err := queryAll(ctx, s.db.Pool(), func(r Rows) error {
		a, err := scanAuthenticator(r)
		as = append(as, a)
		return err
	}, "SELECT "+authnCols+" FROM authenticators WHERE account = $1 ORDER BY type, service_id", account)
	if err != nil {
		return nil, fmt.Errorf("list authenticators of %s: %w", account, err)
	}
	return as, nil
}

// DeleteAuthenticator removes the service.
func (s *Store) DeleteAuthenticator(ctx context.Context, account, typ, serviceID string, evs ...audit.Event) error {
	err := s.write(ctx, ReadCommitted, evs, changed("authenticator:"+account+":"+typ+"/"+serviceID), func(q Querier) error {
		n, err := q.Exec(ctx, "DELETE FROM authenticators WHERE account = $1 AND type = $2 AND service_id = $3", account, typ, serviceID)
		if err == nil && n == 0 {
			err = store.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete authenticator %s/%s of %s: %w", typ, serviceID, account, err)
	}
	return nil
}
