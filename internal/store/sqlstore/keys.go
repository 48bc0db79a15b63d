package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

const keyCols = "id, account, principal_id, description, conjur, hash, sealed, prev_hash, prev_until, expires_at, valid_sources, roles, created_at, rotated_at, last_used_at, last_used_addr, revoked_at, customers, author, updated_by"

func scanAPIKey(r Rows) (model.APIKey, error) {
	var k model.APIKey
	err := r.Scan(&k.ID, &k.Account, &k.PrincipalID, &k.Description, &k.Conjur, &k.Hash, &k.Sealed,
		&k.PrevHash, nullTimeCol{&k.PrevUntil}, nullTimeCol{&k.ExpiresAt}, jsonCol{&k.ValidSources},
		jsonCol{&k.Roles}, timeCol{&k.CreatedAt}, nullTimeCol{&k.RotatedAt}, nullTimeCol{&k.LastUsedAt},
		&k.LastUsedAddr, nullTimeCol{&k.RevokedAt}, jsonCol{&k.Customers}, &k.Author, &k.UpdatedBy)
	return k, err
}

func (s *Store) keyArgs(k model.APIKey) ([]any, error) {
	js, err := jsonArgs(k.ValidSources, k.Roles, k.Customers)
	if err != nil {
		return nil, err
	}
	return []any{k.ID, k.Account, k.PrincipalID, k.Description, k.Conjur, k.Hash, k.Sealed,
		k.PrevHash, s.optTime(k.PrevUntil), s.optTime(k.ExpiresAt), js[0], js[1],
		s.db.Time(k.CreatedAt), s.optTime(k.RotatedAt), s.optTime(k.LastUsedAt), k.LastUsedAddr, s.optTime(k.RevokedAt), js[2],
		k.Author, k.UpdatedBy}, nil
}

func (s *Store) insertAPIKey(ctx context.Context, q Querier, k model.APIKey) error {
	if k.ID == "" {
		return fmt.Errorf("api key of %s: empty id", k.PrincipalID)
	}
	args, err := s.keyArgs(k)
	if err != nil {
		return err
	}
	_, err = q.Exec(ctx, "INSERT INTO api_keys ("+keyCols+") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20)", args...)
	if err != nil {
		return fmt.Errorf("api key %s: %w", k.ID, s.constraint(err))
	}
	return nil
}

// CreateAPIKey stores k; its principal must exist, and a principal has at
// most one Conjur key.
func (s *Store) CreateAPIKey(ctx context.Context, k model.APIKey, evs ...audit.Event) error {
	err := s.write(ctx, ReadCommitted, evs, changed("key:"+k.Account+":"+k.ID), func(q Querier) error { return s.insertAPIKey(ctx, q, k) })
	if err != nil {
		return fmt.Errorf("create api key %s: %w", k.ID, err)
	}
	return nil
}

func (s *Store) getAPIKey(ctx context.Context, q Querier, where string, args ...any) (model.APIKey, error) {
	var k model.APIKey
	err := queryOne(ctx, q, func(r Rows) (err error) { k, err = scanAPIKey(r); return err },
		"SELECT "+keyCols+" FROM api_keys WHERE "+where, args...)
	return k, notFound(err)
}

// GetAPIKey returns the key with that public id.
func (s *Store) GetAPIKey(ctx context.Context, id string) (model.APIKey, error) {
	k, err := s.getAPIKey(ctx, s.db.Pool(), "id = $1", id)
	if err != nil {
		return model.APIKey{}, fmt.Errorf("get api key %s: %w", id, err)
	}
	return k, nil
}

// inChunk bounds the ids one query by id names (SQLite allows 32,766
// parameters, PostgreSQL 65,535).
const inChunk = 1000

// eachByID runs "SELECT cols FROM table WHERE id IN (…)" for ids (each
// once, inChunk to a query) and hands every row to fn.
func eachByID(ctx context.Context, q Querier, cols, table string, ids []string, fn func(Rows) error) error {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids) // each once, whatever chunk names it
	for chunk := range slices.Chunk(ids, inChunk) {
		ph := make([]string, len(chunk))
		args := make([]any, len(chunk))
		for i, id := range chunk {
			ph[i], args[i] = "$"+strconv.Itoa(i+1), id
		}
		if err := queryAll(ctx, q, fn, "SELECT "+cols+" FROM "+table+" WHERE id IN ("+strings.Join(ph, ",")+")", args...); err != nil {
			return err
		}
	}
	return nil
}

// GetAPIKeys returns those of the keys named by ids that exist.
func (s *Store) GetAPIKeys(ctx context.Context, ids []string) ([]model.APIKey, error) {
	var ks []model.APIKey
	err := eachByID(ctx, s.db.Pool(), keyCols, "api_keys", ids, func(r Rows) error {
		k, err := scanAPIKey(r)
		ks = append(ks, k)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get %d api keys: %w", len(ids), err)
	}
	return ks, nil
}

// GetConjurKey returns the principal's Conjur API key.
func (s *Store) GetConjurKey(ctx context.Context, account, principalID string) (model.APIKey, error) {
	k, err := s.getAPIKey(ctx, s.db.Pool(), "account = $1 AND principal_id = $2 AND conjur = $3", account, principalID, true)
	if err != nil {
		return model.APIKey{}, fmt.Errorf("get conjur key of %s: %w", principalID, err)
	}
	return k, nil
}

// ListAPIKeys returns the principal's keys, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context, account, principalID string) ([]model.APIKey, error) {
	var ks []model.APIKey
	err := queryAll(ctx, s.db.Pool(), func(r Rows) error {
		k, err := scanAPIKey(r)
		ks = append(ks, k)
		return err
	}, "SELECT "+keyCols+" FROM api_keys WHERE account = $1 AND principal_id = $2 ORDER BY created_at, id", account, principalID)
	if err != nil {
		return nil, fmt.Errorf("list api keys of %s: %w", principalID, err)
	}
	return ks, nil
}

// EachAPIKey streams every key to fn, row by row; an error from fn stops it.
func (s *Store) EachAPIKey(ctx context.Context, fn func(model.APIKey) error) error {
	err := queryAll(ctx, s.db.Pool(), func(r Rows) error {
		k, err := scanAPIKey(r)
		if err != nil {
			return err
		}
		return fn(k)
	}, "SELECT "+keyCols+" FROM api_keys")
	if err != nil {
		return fmt.Errorf("each api key: %w", err)
	}
	return nil
}

// UpdateAPIKey runs update on the stored key and stores its result.
func (s *Store) UpdateAPIKey(ctx context.Context, id string, update func(model.APIKey) (model.APIKey, error), evs ...audit.Event) (model.APIKey, error) {
	var out model.APIKey
	err := s.write(ctx, Serializable, evs, func() []string { return []string{"key:" + out.Account + ":" + id} }, func(q Querier) error {
		old, err := s.getAPIKey(ctx, q, "id = $1"+s.db.ForUpdate(), id)
		if err != nil {
			return err
		}
		k, err := update(old)
		if err != nil {
			return err
		}
		if k.ID != old.ID || k.Account != old.Account || k.PrincipalID != old.PrincipalID {
			return errImmutable
		}
		args, err := s.keyArgs(k)
		if err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `UPDATE api_keys SET description = $4, conjur = $5, hash = $6, sealed = $7,
			prev_hash = $8, prev_until = $9, expires_at = $10, valid_sources = $11, roles = $12, created_at = $13,
			rotated_at = $14, last_used_at = $15, last_used_addr = $16, revoked_at = $17, customers = $18, author = $19, updated_by = $20
			WHERE id = $1 AND account = $2 AND principal_id = $3`, args...); err != nil {
			return s.constraint(err)
		}
		out = k
		return nil
	})
	if err != nil {
		return model.APIKey{}, fmt.Errorf("update api key %s: %w", id, err)
	}
	out.CreatedAt = Micro(out.CreatedAt)
	out.PrevUntil, out.ExpiresAt = microPtr(out.PrevUntil), microPtr(out.ExpiresAt)
	out.RotatedAt, out.LastUsedAt = microPtr(out.RotatedAt), microPtr(out.LastUsedAt)
	out.RevokedAt = microPtr(out.RevokedAt)
	return out, nil
}

// DeleteAPIKey removes the key.
func (s *Store) DeleteAPIKey(ctx context.Context, id string, evs ...audit.Event) error {
	var acct string
	err := s.write(ctx, ReadCommitted, evs, func() []string { return []string{"key:" + acct + ":" + id} }, func(q Querier) error {
		err := queryOne(ctx, q, func(r Rows) error { return r.Scan(&acct) }, "SELECT account FROM api_keys WHERE id = $1", id)
		if err != nil {
			return notFound(err)
		}
		_, err = q.Exec(ctx, "DELETE FROM api_keys WHERE id = $1", id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete api key %s: %w", id, err)
	}
	return nil
}

// TouchAPIKeys records the last use of each key in one transaction; a use
// older than the one stored, or of a key that is gone, changes nothing.
func (s *Store) TouchAPIKeys(ctx context.Context, uses []store.KeyUse) error {
	if len(uses) == 0 {
		return nil
	}
	// Update rows in id order, so concurrent batches cannot deadlock.
	sorted := slices.Clone(uses)
	slices.SortStableFunc(sorted, func(a, b store.KeyUse) int { return strings.Compare(a.ID, b.ID) })
	err := s.db.Write(ctx, TxOptions{Isolation: ReadCommitted}, func(q Querier) error {
		for _, u := range sorted {
			at := s.db.Time(u.At)
			if _, err := q.Exec(ctx, `UPDATE api_keys SET last_used_at = $2, last_used_addr = $3
				WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $2)`, u.ID, at, u.Addr); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("touch %d api keys: %w", len(uses), err)
	}
	return nil
}
