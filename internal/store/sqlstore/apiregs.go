package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

const apiRegCols = "id, account, name, type, enforce_mfa, client_cert_required, password_required, verify_psrun, allowed, rules, run_as, access_token_minutes, client_id, key_hash, key_sealed, key_last4, psrun_sealed, created_at, updated_at, key_rotated_at, last_used_at, defined_by, version, key_holders"

func scanAPIReg(r Rows) (model.APIRegistration, error) {
	var g model.APIRegistration
	var clientID *string
	err := r.Scan(&g.ID, &g.Account, &g.Name, &g.Type, &g.EnforceMFA, &g.ClientCertRequired, &g.PasswordRequired,
		&g.VerifyPSRUN, jsonCol{&g.Allowed}, jsonCol{&g.Rules}, &g.RunAs, &g.AccessTokenMinutes, &clientID, &g.KeyHash,
		&g.KeySealed, &g.KeyLast4, &g.PSRUNSealed, timeCol{&g.CreatedAt}, timeCol{&g.UpdatedAt},
		nullTimeCol{&g.KeyRotatedAt}, nullTimeCol{&g.LastUsedAt}, &g.DefinedBy, &g.Version, jsonCol{&g.KeyHolders})
	if clientID != nil {
		g.ClientID = *clientID
	}
	return g, err
}

func (s *Store) apiRegArgs(g model.APIRegistration) ([]any, error) {
	holders := g.KeyHolders
	if holders == nil {
		holders = []string{}
	}
	js, err := jsonArgs(g.Allowed, g.Rules, holders)
	if err != nil {
		return nil, err
	}
	var clientID any
	if g.ClientID != "" {
		clientID = g.ClientID
	}
	return []any{g.ID, g.Account, g.Name, g.Type, g.EnforceMFA, g.ClientCertRequired, g.PasswordRequired, g.VerifyPSRUN,
		js[0], js[1], g.RunAs, g.AccessTokenMinutes, clientID, g.KeyHash, g.KeySealed, g.KeyLast4, g.PSRUNSealed,
		s.db.Time(g.CreatedAt), s.db.Time(g.UpdatedAt), s.optTime(g.KeyRotatedAt), s.optTime(g.LastUsedAt), g.DefinedBy, g.Version, js[2]}, nil
}

// CreateAPIRegistration stores g; its account must exist.
func (s *Store) CreateAPIRegistration(ctx context.Context, g model.APIRegistration, evs ...audit.Event) error {
	if g.ID == "" || len(g.KeyHash) == 0 {
		return fmt.Errorf("create api registration: empty id or key hash")
	}
	args, err := s.apiRegArgs(g)
	if err != nil {
		return fmt.Errorf("create api registration %s: %w", g.ID, err)
	}
	err = s.write(ctx, ReadCommitted, evs, uncached, func(q Querier) error {
		_, err := q.Exec(ctx, "INSERT INTO api_registrations ("+apiRegCols+") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24)", args...)
		return s.constraint(err)
	})
	if err != nil {
		return fmt.Errorf("create api registration %s: %w", g.ID, err)
	}
	return nil
}

func (s *Store) getAPIReg(ctx context.Context, q Querier, where string, args ...any) (model.APIRegistration, error) {
	var g model.APIRegistration
	err := queryOne(ctx, q, func(r Rows) (err error) { g, err = scanAPIReg(r); return err },
		"SELECT "+apiRegCols+" FROM api_registrations WHERE "+where, args...)
	return g, notFound(err)
}

// GetAPIRegistration returns the account's registration with that id.
func (s *Store) GetAPIRegistration(ctx context.Context, account, id string) (model.APIRegistration, error) {
	g, err := s.getAPIReg(ctx, s.db.Pool(), "account = $1 AND id = $2", account, id)
	if err != nil {
		return g, fmt.Errorf("get api registration %s: %w", id, err)
	}
	return g, nil
}

// GetAPIRegistrationByKeyHash finds a registration by its key's HMAC (an index lookup).
func (s *Store) GetAPIRegistrationByKeyHash(ctx context.Context, hash []byte) (model.APIRegistration, error) {
	g, err := s.getAPIReg(ctx, s.db.Pool(), "key_hash = $1", hash)
	if err != nil {
		return g, fmt.Errorf("get api registration by key: %w", err)
	}
	return g, nil
}

// GetAPIRegistrationByClientID finds an access policy by its client id.
func (s *Store) GetAPIRegistrationByClientID(ctx context.Context, clientID string) (model.APIRegistration, error) {
	g, err := s.getAPIReg(ctx, s.db.Pool(), "client_id = $1", clientID)
	if err != nil {
		return g, fmt.Errorf("get api registration by client id: %w", err)
	}
	return g, nil
}

// ListAPIRegistrations returns one page of the account's registrations by name.
func (s *Store) ListAPIRegistrations(ctx context.Context, account string, p store.Page) ([]model.APIRegistration, int, error) {
	pattern, limit, offset := pageSQL(p)
	var out []model.APIRegistration
	var total int
	err := s.db.Read(ctx, func(q Querier) error {
		out = nil
		var err error
		total, err = count(ctx, q, `SELECT COUNT(*) FROM api_registrations WHERE account = $1 AND name LIKE $2 ESCAPE '\'`, account, pattern)
		if err != nil {
			return err
		}
		return queryAll(ctx, q, func(r Rows) error {
			g, err := scanAPIReg(r)
			out = append(out, g)
			return err
		}, "SELECT "+apiRegCols+` FROM api_registrations WHERE account = $1 AND name LIKE $2 ESCAPE '\' ORDER BY name, id LIMIT $3 OFFSET $4`,
			account, pattern, limit, offset)
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list api registrations of %s: %w", account, err)
	}
	return out, total, nil
}

// UpdateAPIRegistration runs update and stores its result with the next
// version, ending the registration's sessions in the same transaction.
func (s *Store) UpdateAPIRegistration(ctx context.Context, account, id string, update func(model.APIRegistration) (model.APIRegistration, error), evs ...audit.Event) (model.APIRegistration, error) {
	var out model.APIRegistration
	err := s.write(ctx, Serializable, evs, uncached, func(q Querier) error {
		old, err := s.getAPIReg(ctx, q, "account = $1 AND id = $2"+s.db.ForUpdate(), account, id)
		if err != nil {
			return err
		}
		g, err := update(old)
		if err != nil {
			return err
		}
		g.ID, g.Account, g.Version = old.ID, old.Account, old.Version+1
		args, err := s.apiRegArgs(g)
		if err != nil {
			return err
		}
		_, err = q.Exec(ctx, `UPDATE api_registrations SET name = $3, type = $4, enforce_mfa = $5, client_cert_required = $6,
			password_required = $7, verify_psrun = $8, allowed = $9, rules = $10, run_as = $11, access_token_minutes = $12,
			client_id = $13, key_hash = $14, key_sealed = $15, key_last4 = $16, psrun_sealed = $17, created_at = $18,
			updated_at = $19, key_rotated_at = $20, last_used_at = $21, defined_by = $22, version = $23, key_holders = $24 WHERE id = $1 AND account = $2`, args...)
		if err != nil {
			return s.constraint(err)
		}
		if _, err := q.Exec(ctx, "DELETE FROM surface_sessions WHERE registration_id = $1", id); err != nil {
			return err
		}
		out = g
		return nil
	})
	if err != nil {
		return model.APIRegistration{}, fmt.Errorf("update api registration %s: %w", id, err)
	}
	return out, nil
}

// AddAPIRegistrationHolder adds principalID to the registration's key
// holders (the version stays: its sessions live on) and returns the
// registration as stored, in one transaction with evs.
func (s *Store) AddAPIRegistrationHolder(ctx context.Context, account, id, principalID string, evs ...audit.Event) (model.APIRegistration, error) {
	var out model.APIRegistration
	err := s.write(ctx, Serializable, evs, uncached, func(q Querier) error {
		g, err := s.getAPIReg(ctx, q, "account = $1 AND id = $2"+s.db.ForUpdate(), account, id)
		if err != nil {
			return err
		}
		if !slices.Contains(g.KeyHolders, principalID) {
			g.KeyHolders = append(g.KeyHolders, principalID)
			js, err := jsonArgs(g.KeyHolders)
			if err != nil {
				return err
			}
			if _, err := q.Exec(ctx, "UPDATE api_registrations SET key_holders = $1 WHERE id = $2 AND account = $3", js[0], id, account); err != nil {
				return err
			}
		}
		out = g
		return nil
	})
	if err != nil {
		return model.APIRegistration{}, fmt.Errorf("add holder of api registration %s: %w", id, err)
	}
	return out, nil
}

// DeleteAPIRegistration removes the registration and its sessions.
func (s *Store) DeleteAPIRegistration(ctx context.Context, account, id string, evs ...audit.Event) error {
	err := s.write(ctx, ReadCommitted, evs, uncached, func(q Querier) error {
		if _, err := q.Exec(ctx, "DELETE FROM surface_sessions WHERE registration_id = $1 AND account = $2", id, account); err != nil {
			return err
		}
		n, err := q.Exec(ctx, "DELETE FROM api_registrations WHERE account = $1 AND id = $2", account, id)
		if err == nil && n == 0 {
			err = store.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete api registration %s: %w", id, err)
	}
	return nil
}

// TouchAPIRegistration records the registration's last use.
func (s *Store) TouchAPIRegistration(ctx context.Context, id string, at time.Time) error {
	err := s.db.Write(ctx, TxOptions{Isolation: ReadCommitted}, func(q Querier) error {
		_, err := q.Exec(ctx, "UPDATE api_registrations SET last_used_at = $1 WHERE id = $2", s.db.Time(at), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("touch api registration %s: %w", id, err)
	}
	return nil
}

// PrincipalSessionEpoch returns the principal's session epoch, raised
// whenever it stops being active.
func (s *Store) PrincipalSessionEpoch(ctx context.Context, account, principalID string) (int64, error) {
	var n int64
	err := queryOne(ctx, s.db.Pool(), func(r Rows) error { return r.Scan(&n) },
		"SELECT session_epoch FROM principals WHERE account = $1 AND id = $2", account, principalID)
	if err != nil {
		return 0, fmt.Errorf("session epoch of %s: %w", principalID, notFound(err))
	}
	return n, nil
}

// PrincipalNumber returns the principal's number, allocating it once.
func (s *Store) PrincipalNumber(ctx context.Context, account, principalID string) (int64, error) {
	var n int64
	err := s.db.Write(ctx, TxOptions{Isolation: ReadCommitted}, func(q Querier) error {
		if _, err := q.Exec(ctx, "INSERT INTO principal_numbers (account, principal_id) VALUES ($1, $2) ON CONFLICT (principal_id) DO NOTHING",
			account, principalID); err != nil {
			return err
		}
		return queryOne(ctx, q, func(r Rows) error { return r.Scan(&n) },
			"SELECT number FROM principal_numbers WHERE account = $1 AND principal_id = $2", account, principalID)
	})
	if err != nil {
		return 0, fmt.Errorf("principal number of %s: %w", principalID, notFound(err))
	}
	return n, nil
}

const sessionCols = "hash, account, kind, registration_id, principal_id, level, created_at, last_used_at, expires_at, registration_version"

// CreateSurfaceSession stores a session while its registration exists at
// ss.RegistrationVersion (else ErrNotFound). The registration's row is
// locked first, so an update either commits before (the version differs)
// or waits for this session and then ends it.
func (s *Store) CreateSurfaceSession(ctx context.Context, ss model.SurfaceSession, evs ...audit.Event) error {
	err := s.write(ctx, ReadCommitted, evs, uncached, func(q Querier) error {
		var version int64
		err := queryOne(ctx, q, func(r Rows) error { return r.Scan(&version) },
			"SELECT version FROM api_registrations WHERE id = $1 AND account = $2"+s.db.ForUpdate(), ss.RegistrationID, ss.Account)
		if err != nil {
			return notFound(err)
		}
		if version != ss.RegistrationVersion {
			return store.ErrNotFound
		}
		// The principal must still be active at the epoch the sign-in read:
		// a disable (raising the epoch, ending its sessions) that committed
		// meanwhile refuses the session, even if re-enabled since.
		var status string
		var epoch int64
		err = queryOne(ctx, q, func(r Rows) error { return r.Scan(&status, &epoch) },
			"SELECT status, session_epoch FROM principals WHERE id = $1 AND account = $2"+s.db.ForUpdate(), ss.PrincipalID, ss.Account)
		if err != nil {
			return notFound(err)
		}
		if status != model.StatusActive || epoch != ss.PrincipalEpoch {
			return store.ErrNotFound
		}
		_, err = q.Exec(ctx, "INSERT INTO surface_sessions ("+sessionCols+") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
			ss.Hash, ss.Account, ss.Kind, ss.RegistrationID, ss.PrincipalID, ss.Level, s.db.Time(ss.CreatedAt),
			s.db.Time(ss.LastUsedAt), s.db.Time(ss.ExpiresAt), ss.RegistrationVersion)
		return s.constraint(err)
	})
	if err != nil {
		return fmt.Errorf("create surface session: %w", err)
	}
	return nil
}

// GetSurfaceSession returns the session named by hash.
func (s *Store) GetSurfaceSession(ctx context.Context, hash []byte) (model.SurfaceSession, error) {
	var ss model.SurfaceSession
	err := queryOne(ctx, s.db.Pool(), func(r Rows) error {
		return r.Scan(&ss.Hash, &ss.Account, &ss.Kind, &ss.RegistrationID, &ss.PrincipalID, &ss.Level,
			timeCol{&ss.CreatedAt}, timeCol{&ss.LastUsedAt}, timeCol{&ss.ExpiresAt}, &ss.RegistrationVersion)
	}, "SELECT "+sessionCols+" FROM surface_sessions WHERE hash = $1", hash)
	if err != nil {
		return ss, fmt.Errorf("get surface session: %w", notFound(err))
	}
	return ss, nil
}

// TouchSurfaceSession sets the session's last use and its new end.
func (s *Store) TouchSurfaceSession(ctx context.Context, hash []byte, at, expires time.Time) error {
	err := s.db.Write(ctx, TxOptions{Isolation: ReadCommitted}, func(q Querier) error {
		_, err := q.Exec(ctx, "UPDATE surface_sessions SET last_used_at = $1, expires_at = $2 WHERE hash = $3", s.db.Time(at), s.db.Time(expires), hash)
		return err
	})
	if err != nil {
		return fmt.Errorf("touch surface session: %w", err)
	}
	return nil
}

// DeleteSurfaceSession ends a session, if it exists.
func (s *Store) DeleteSurfaceSession(ctx context.Context, hash []byte, evs ...audit.Event) error {
	err := s.write(ctx, ReadCommitted, evs, uncached, func(q Querier) error {
		_, err := q.Exec(ctx, "DELETE FROM surface_sessions WHERE hash = $1", hash)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete surface session: %w", err)
	}
	return nil
}

// PurgeSurfaceSessions removes the sessions that ended at or before now.
func (s *Store) PurgeSurfaceSessions(ctx context.Context, now time.Time) error {
	err := s.db.Write(ctx, TxOptions{Isolation: ReadCommitted}, func(q Querier) error {
		_, err := q.Exec(ctx, "DELETE FROM surface_sessions WHERE expires_at <= $1", s.db.Time(now))
		return err
	})
	if err != nil {
		return fmt.Errorf("purge surface sessions: %w", err)
	}
	return nil
}
