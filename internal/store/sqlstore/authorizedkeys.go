package sqlstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

const authorizedKeyCols = "id, account, principal_id, name, comment, public_key, fingerprint, not_before, not_after, expires_in, source_address, created_at, updated_at, author, updated_by"

func scanAuthorizedKey(r Rows) (model.AuthorizedKey, error) {
	var k model.AuthorizedKey
	err := r.Scan(&k.ID, &k.Account, &k.PrincipalID, &k.Name, &k.Comment, &k.PublicKey, &k.Fingerprint,
		nullTimeCol{&k.NotBefore}, nullTimeCol{&k.NotAfter}, &k.ExpiresIn, jsonCol{&k.SourceAddress},
		timeCol{&k.CreatedAt}, timeCol{&k.UpdatedAt}, &k.Author, &k.UpdatedBy)
	return k, err
}

func (s *Store) authorizedKeyArgs(k model.AuthorizedKey) ([]any, error) {
	js, err := jsonArgs(k.SourceAddress)
	if err != nil {
		return nil, err
	}
	return []any{k.ID, k.Account, k.PrincipalID, k.Name, k.Comment, k.PublicKey, k.Fingerprint,
		s.optTime(k.NotBefore), s.optTime(k.NotAfter), k.ExpiresIn, js[0],
		s.db.Time(k.CreatedAt), s.db.Time(k.UpdatedAt), k.Author, k.UpdatedBy}, nil
}

// CreateAuthorizedKey stores k; its principal must exist and not hold the same public key.
func (s *Store) CreateAuthorizedKey(ctx context.Context, k model.AuthorizedKey, evs ...audit.Event) error {
	if k.ID == "" {
		return fmt.Errorf("create authorized key: empty id")
	}
	args, err := s.authorizedKeyArgs(k)
	if err != nil {
		return fmt.Errorf("create authorized key %s: %w", k.ID, err)
	}
	err = s.write(ctx, ReadCommitted, evs, uncached, func(q Querier) error {
		if _, err := s.getPrincipal(ctx, q, k.Account, k.PrincipalID, ""); err != nil {
			return err
		}
		_, err := q.Exec(ctx, "INSERT INTO authorized_keys ("+authorizedKeyCols+") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)", args...)
		return s.constraint(err)
	})
	if err != nil {
		return fmt.Errorf("create authorized key %s: %w", k.ID, err)
	}
	return nil
}

func (s *Store) getAuthorizedKey(ctx context.Context, q Querier, account, id, suffix string) (model.AuthorizedKey, error) {
	var k model.AuthorizedKey
	err := queryOne(ctx, q, func(r Rows) (err error) { k, err = scanAuthorizedKey(r); return err },
		"SELECT "+authorizedKeyCols+" FROM authorized_keys WHERE account = $1 AND id = $2"+suffix, account, id)
	return k, notFound(err)
}

// GetAuthorizedKey returns the account's authorized key with that id.
func (s *Store) GetAuthorizedKey(ctx context.Context, account, id string) (model.AuthorizedKey, error) {
	k, err := s.getAuthorizedKey(ctx, s.db.Pool(), account, id, "")
	if err != nil {
		return model.AuthorizedKey{}, fmt.Errorf("get authorized key %s: %w", id, err)
	}
	return k, nil
}

// ListAuthorizedKeys returns the principal's authorized keys, by name then id.
func (s *Store) ListAuthorizedKeys(ctx context.Context, account, principalID string) ([]model.AuthorizedKey, error) {
	var ks []model.AuthorizedKey
	err := queryAll(ctx, s.db.Pool(), func(r Rows) error {
		k, err := scanAuthorizedKey(r)
		ks = append(ks, k)
		return err
	}, "SELECT "+authorizedKeyCols+" FROM authorized_keys WHERE account = $1 AND principal_id = $2 ORDER BY name, id", account, principalID)
	if err != nil {
		return nil, fmt.Errorf("list authorized keys of %s: %w", principalID, err)
	}
	return ks, nil
}

// UpdateAuthorizedKey runs update on the stored key and stores its result.
func (s *Store) UpdateAuthorizedKey(ctx context.Context, account, id string, update func(model.AuthorizedKey) (model.AuthorizedKey, error), evs ...audit.Event) (model.AuthorizedKey, error) {
	var out model.AuthorizedKey
	err := s.write(ctx, Serializable, evs, uncached, func(q Querier) error {
		old, err := s.getAuthorizedKey(ctx, q, account, id, s.db.ForUpdate())
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
		args, err := s.authorizedKeyArgs(k)
		if err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `UPDATE authorized_keys SET name = $4, comment = $5, public_key = $6, fingerprint = $7,
			not_before = $8, not_after = $9, expires_in = $10, source_address = $11, created_at = $12, updated_at = $13,
			author = $14, updated_by = $15 WHERE id = $1 AND account = $2 AND principal_id = $3`, args...); err != nil {
			return s.constraint(err)
		}
		out = k
		return nil
	})
	if err != nil {
		return model.AuthorizedKey{}, fmt.Errorf("update authorized key %s: %w", id, err)
	}
	out.CreatedAt, out.UpdatedAt = Micro(out.CreatedAt), Micro(out.UpdatedAt)
	out.NotBefore, out.NotAfter = microPtr(out.NotBefore), microPtr(out.NotAfter)
	return out, nil
}

// DeleteAuthorizedKey removes the key.
func (s *Store) DeleteAuthorizedKey(ctx context.Context, account, id string, evs ...audit.Event) error {
	err := s.write(ctx, ReadCommitted, evs, uncached, func(q Querier) error {
		n, err := q.Exec(ctx, "DELETE FROM authorized_keys WHERE account = $1 AND id = $2", account, id)
		if err == nil && n == 0 {
			err = store.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete authorized key %s: %w", id, err)
	}
	return nil
}

// SearchPrincipals returns one page of the account's principals matching
// q, and how many match: the matching ids are found by a scan of the narrow
// (account, kind, search_text, id) index, then only the page's rows read.
func (s *Store) SearchPrincipals(ctx context.Context, account string, pq store.PrincipalQuery) ([]model.Principal, int, error) {
	where := []string{"account = $1"}
	args := []any{account}
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if pq.Kind != "" {
		where = append(where, "kind = "+arg(string(pq.Kind)))
	}
	if pq.Source != "" {
		where = append(where, "source = "+arg(pq.Source))
	}
	if pq.IDs != nil {
		if len(pq.IDs) == 0 {
			return nil, 0, nil
		}
		ph := make([]string, len(pq.IDs))
		for i, id := range pq.IDs {
			ph[i] = arg(id)
		}
		where = append(where, "id IN ("+strings.Join(ph, ",")+")")
	}
	for _, t := range pq.Terms {
		where = append(where, "search_text LIKE "+arg("%"+escapeLike(t)+"%")+" ESCAPE '\\'")
	}
	cond := " FROM principals WHERE " + strings.Join(where, " AND ")
	key, dir := "lower(login)", ""
	if pq.ByCreated {
		key = "created_at"
	}
	if pq.Desc {
		dir = " DESC"
	}
	order := " ORDER BY " + key + dir + ", id" + dir
	var ps []model.Principal
	var total int
	err := s.db.Read(ctx, func(q Querier) error {
		var err error
		if total, err = count(ctx, q, "SELECT count(*)"+cond, args...); err != nil {
			return err
		}
		page := ""
		pargs := args
		if pq.Limit > 0 {
			page = " LIMIT $" + strconv.Itoa(len(args)+1) + " OFFSET $" + strconv.Itoa(len(args)+2)
			pargs = append(append([]any{}, args...), pq.Limit, pq.Offset)
		}
		ps = nil
		return queryAll(ctx, q, func(r Rows) error {
			p, err := scanPrincipal(r)
			ps = append(ps, p)
			return err
		}, "SELECT "+principalCols+cond+order+page, pargs...)
	})
	if err != nil {
		return nil, 0, fmt.Errorf("search principals of %s: %w", account, err)
	}
	return ps, total, nil
}

// PrincipalSearchEntries returns what a search needs of every principal of the account.
func (s *Store) PrincipalSearchEntries(ctx context.Context, account string) ([]store.SearchEntry, error) {
	var out []store.SearchEntry
	err := queryAll(ctx, s.db.Pool(), func(r Rows) error {
		var e store.SearchEntry
		var kind string
		err := r.Scan(&e.ID, &e.Login, &kind, &e.Source, timeCol{&e.CreatedAt}, &e.Text, &e.Customer)
		e.Kind = model.Kind(kind)
		out = append(out, e)
		return err
	}, "SELECT id, login, kind, source, created_at, search_text, customer FROM principals WHERE account = $1", account)
	if err != nil {
		return nil, fmt.Errorf("search entries of %s: %w", account, err)
	}
	return out, nil
}

// RoleMemberCounts counts each role's holders, by any grant and by an explicit one.
func (s *Store) RoleMemberCounts(ctx context.Context, account string) (map[string]store.MemberCount, error) {
	out := map[string]store.MemberCount{}
	err := queryAll(ctx, s.db.Pool(), func(r Rows) error {
		var id string
		var all, explicit int64
		if err := r.Scan(&id, &all, &explicit); err != nil {
			return err
		}
		out[id] = store.MemberCount{All: int(all), Explicit: int(explicit)}
		return nil
	}, `SELECT role_id, count(DISTINCT principal_id), count(DISTINCT CASE WHEN source = 'explicit' THEN principal_id END)
		FROM grants WHERE account = $1 GROUP BY role_id`, account)
	if err != nil {
		return nil, fmt.Errorf("count role members of %s: %w", account, err)
	}
	return out, nil
}
