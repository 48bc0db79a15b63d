package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

const signingCols = "id, alg, private, public, created_at, retired_at, expires_at, account"

func scanSigningKey(r Rows) (model.SigningKey, error) {
	var k model.SigningKey
	err := r.Scan(&k.ID, &k.Alg, &k.Private, &k.Public, timeCol{&k.CreatedAt},
		nullTimeCol{&k.RetiredAt}, nullTimeCol{&k.ExpiresAt}, &k.Account)
	return k, err
}

func (s *Store) signingArgs(k model.SigningKey) []any {
	return []any{k.ID, k.Alg, k.Private, k.Public, s.db.Time(k.CreatedAt), s.optTime(k.RetiredAt), s.optTime(k.ExpiresAt), k.Account}
}

// CreateSigningKey stores a token signing key.
func (s *Store) CreateSigningKey(ctx context.Context, k model.SigningKey, evs ...audit.Event) error {
	if k.ID == "" {
		return fmt.Errorf("create signing key: empty id")
	}
	err := s.write(ctx, ReadCommitted, evs, changed("signing-keys"), func(q Querier) error {
		_, err := q.Exec(ctx, "INSERT INTO signing_keys ("+signingCols+") VALUES ($1,$2,$3,$4,$5,$6,$7,$8)", s.signingArgs(k)...)
		return s.constraint(err)
	})
	if err != nil {
		return fmt.Errorf("create signing key %s: %w", k.ID, err)
	}
	return nil
}

// RotateSigningKey stores k and, in the same transaction, retires every
// other key of k.Account still signing: RetiredAt becomes k.CreatedAt and
// ExpiresAt until. Other accounts' keys are untouched.
func (s *Store) RotateSigningKey(ctx context.Context, k model.SigningKey, until time.Time, evs ...audit.Event) error {
	if k.ID == "" || k.Account == "" {
		return fmt.Errorf("rotate signing key: empty id or account")
	}
	err := s.write(ctx, Serializable, evs, changed("signing-keys"), func(q Querier) error {
		if _, err := q.Exec(ctx, "INSERT INTO signing_keys ("+signingCols+") VALUES ($1,$2,$3,$4,$5,$6,$7,$8)", s.signingArgs(k)...); err != nil {
			return s.constraint(err)
		}
		_, err := q.Exec(ctx, `UPDATE signing_keys SET retired_at = $1, expires_at = $2
			WHERE account = $3 AND retired_at IS NULL AND id <> $4`, s.db.Time(k.CreatedAt), s.db.Time(until), k.Account, k.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("rotate signing key of %s: %w", k.Account, err)
	}
	return nil
}

// DeleteSigningKey removes a key (one that no longer verifies anything).
func (s *Store) DeleteSigningKey(ctx context.Context, id string, evs ...audit.Event) error {
	err := s.write(ctx, ReadCommitted, evs, changed("signing-keys"), func(q Querier) error {
		n, err := q.Exec(ctx, "DELETE FROM signing_keys WHERE id = $1", id)
		if err == nil && n == 0 {
			err = store.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete signing key %s: %w", id, err)
	}
	return nil
}

// ListSigningKeys returns every account's signing keys, oldest first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]model.SigningKey, error) {
	var ks []model.SigningKey
	err := queryAll(ctx, s.db.Pool(), func(r Rows) error {
		k, err := scanSigningKey(r)
		ks = append(ks, k)
		return err
	}, "SELECT "+signingCols+" FROM signing_keys ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	return ks, nil
}

// UpdateSigningKey runs update on the stored key and stores its result.
func (s *Store) UpdateSigningKey(ctx context.Context, id string, update func(model.SigningKey) (model.SigningKey, error), evs ...audit.Event) (model.SigningKey, error) {
	var out model.SigningKey
	err := s.write(ctx, Serializable, evs, changed("signing-keys"), func(q Querier) error {
		var old model.SigningKey
		err := queryOne(ctx, q, func(r Rows) (err error) { old, err = scanSigningKey(r); return err },
			"SELECT "+signingCols+" FROM signing_keys WHERE id = $1"+s.db.ForUpdate(), id)
		if err != nil {
			return notFound(err)
		}
		k, err := update(old)
		if err != nil {
			return err
		}
		if k.ID != old.ID || k.Account != old.Account {
			return errImmutable
		}
		if _, err := q.Exec(ctx, `UPDATE signing_keys SET alg = $2, private = $3, public = $4, created_at = $5,
			retired_at = $6, expires_at = $7 WHERE id = $1`, s.signingArgs(k)[:7]...); err != nil {
			return err
		}
		out = k
		return nil
	})
	if err != nil {
		return model.SigningKey{}, fmt.Errorf("update signing key %s: %w", id, err)
	}
	out.CreatedAt = Micro(out.CreatedAt)
	out.RetiredAt, out.ExpiresAt = microPtr(out.RetiredAt), microPtr(out.ExpiresAt)
	return out, nil
}
