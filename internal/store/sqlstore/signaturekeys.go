package sqlstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

const sigKeyCols = "id, account, principal_id, algorithm, public_key, fingerprint, description, created_at, last_used_at"

func scanSignatureKey(r Rows) (model.SignatureKey, error) {
	var k model.SignatureKey
	err := r.Scan(&k.ID, &k.Account, &k.PrincipalID, &k.Algorithm, &k.PublicKey, &k.Fingerprint, &k.Description,
		timeCol{&k.CreatedAt}, nullTimeCol{&k.LastUsedAt})
	return k, err
}

// CreateSignatureKey stores k (and rec, if given) in one transaction.
func (s *Store) CreateSignatureKey(ctx context.Context, k model.SignatureKey, rec *model.IdempotencyRecord, evs ...audit.Event) error {
	if k.ID == "" {
		return fmt.Errorf("create signature key: empty id")
	}
	err := s.write(ctx, ReadCommitted, evs, uncached, func(q Querier) error {
		if rec != nil {
			if err := s.putIdempotency(ctx, q, *rec); err != nil {
				return err
			}
		}
		_, err := q.Exec(ctx, "INSERT INTO signature_keys ("+sigKeyCols+") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
			k.ID, k.Account, k.PrincipalID, k.Algorithm, k.PublicKey, k.Fingerprint, k.Description,
			s.db.Time(k.CreatedAt), s.optTime(k.LastUsedAt))
		return s.constraint(err)
	})
	if err != nil {
		return fmt.Errorf("create signature key %s: %w", k.ID, err)
	}
	return nil
}

// GetSignatureKey returns the key with that id.
func (s *Store) GetSignatureKey(ctx context.Context, id string) (model.SignatureKey, error) {
	var k model.SignatureKey
	err := queryOne(ctx, s.db.Pool(), func(r Rows) (err error) { k, err = scanSignatureKey(r); return err },
		"SELECT "+sigKeyCols+" FROM signature_keys WHERE id = $1", id)
	if err != nil {
		return model.SignatureKey{}, fmt.Errorf("get signature key %s: %w", id, notFound(err))
	}
	return k, nil
}

// ListSignatureKeys returns the principal's keys, oldest first.
func (s *Store) ListSignatureKeys(ctx context.Context, account, principalID string) ([]model.SignatureKey, error) {
	var ks []model.SignatureKey
	err := queryAll(ctx, s.db.Pool(), func(r Rows) error {
		k, err := scanSignatureKey(r)
		ks = append(ks, k)
		return err
	}, "SELECT "+sigKeyCols+" FROM signature_keys WHERE account = $1 AND principal_id = $2 ORDER BY created_at, id", account, principalID)
	if err != nil {
		return nil, fmt.Errorf("list signature keys of %s: %w", principalID, err)
	}
	return ks, nil
}

// DeleteSignatureKey removes the key.
func (s *Store) DeleteSignatureKey(ctx context.Context, id string, evs ...audit.Event) error {
	err := s.write(ctx, ReadCommitted, evs, uncached, func(q Querier) error {
		n, err := q.Exec(ctx, "DELETE FROM signature_keys WHERE id = $1", id)
		if err == nil && n == 0 {
			err = store.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete signature key %s: %w", id, err)
	}
	return nil
}

// TouchSignatureKey records a use unless a later one is stored.
func (s *Store) TouchSignatureKey(ctx context.Context, id string, at time.Time) error {
	t := s.db.Time(at)
	err := s.db.Write(ctx, TxOptions{Isolation: ReadCommitted}, func(q Querier) error {
		_, err := q.Exec(ctx, "UPDATE signature_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $2)", id, t)
		return err
	})
	if err != nil {
		return fmt.Errorf("touch signature key %s: %w", id, err)
	}
	return nil
}

// putIdempotency inserts rec, or replaces an expired record of the same
// key; a live one is store.ErrAlreadyExists.
func (s *Store) putIdempotency(ctx context.Context, q Querier, rec model.IdempotencyRecord) error {
	now := rec.CreatedAt.UnixMilli()
	if rand.IntN(purgeOdds) == 0 {
		if _, err := q.Exec(ctx, "DELETE FROM idempotency_records WHERE expires_ms <= $1", now); err != nil {
			return err
		}
	}
	won := false
	err := queryAll(ctx, q, func(r Rows) error { won = true; return nil },
		`INSERT INTO idempotency_records (account, scope, key, request_hash, answer, created_at, expires_ms)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (account, scope, key) DO UPDATE SET request_hash = excluded.request_hash, answer = excluded.answer,
			created_at = excluded.created_at, expires_ms = excluded.expires_ms
		WHERE idempotency_records.expires_ms <= $8
		RETURNING key`, rec.Account, rec.Scope, rec.Key, rec.RequestHash, rec.Answer, s.db.Time(rec.CreatedAt),
		rec.ExpiresAt.UnixMilli(), now)
	if err != nil {
		return err
	}
	if !won {
		return fmt.Errorf("idempotency key %q: %w", rec.Key, store.ErrAlreadyExists)
	}
	return nil
}

// CreateAPIKeyOnce stores k and rec in one transaction.
func (s *Store) CreateAPIKeyOnce(ctx context.Context, k model.APIKey, rec model.IdempotencyRecord, evs ...audit.Event) error {
	err := s.write(ctx, ReadCommitted, evs, changed("key:"+k.Account+":"+k.ID), func(q Querier) error {
		if err := s.putIdempotency(ctx, q, rec); err != nil {
			return err
		}
		return s.insertAPIKey(ctx, q, k)
	})
	if err != nil {
		return fmt.Errorf("create api key %s: %w", k.ID, err)
	}
	return nil
}

// GetIdempotency returns a live record.
func (s *Store) GetIdempotency(ctx context.Context, account, scope, key string, now time.Time) (model.IdempotencyRecord, error) {
	var rec model.IdempotencyRecord
	var exp int64
	err := queryOne(ctx, s.db.Pool(), func(r Rows) error {
		return r.Scan(&rec.Account, &rec.Scope, &rec.Key, &rec.RequestHash, &rec.Answer, timeCol{&rec.CreatedAt}, &exp)
	}, `SELECT account, scope, key, request_hash, answer, created_at, expires_ms FROM idempotency_records
		WHERE account = $1 AND scope = $2 AND key = $3 AND expires_ms > $4`, account, scope, key, now.UnixMilli())
	if err != nil {
		return model.IdempotencyRecord{}, fmt.Errorf("get idempotency record: %w", notFound(err))
	}
	rec.ExpiresAt = time.UnixMilli(exp).UTC()
	return rec, nil
}
