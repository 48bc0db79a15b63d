package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

// CreateAccount stores a tenant.
func (s *Store) CreateAccount(ctx context.Context, a model.Account, evs ...audit.Event) error {
	err := s.write(ctx, ReadCommitted, evs, changed("account:"+a.Name), func(q Querier) error {
		_, err := q.Exec(ctx, "INSERT INTO accounts (name, created_at) VALUES ($1, $2)", a.Name, s.db.Time(a.CreatedAt))
		return s.constraint(err)
	})
	if err != nil {
		return fmt.Errorf("create account %s: %w", a.Name, err)
	}
	return nil
}

// GetAccount returns the named tenant.
func (s *Store) GetAccount(ctx context.Context, name string) (model.Account, error) {
	var a model.Account
	err := queryOne(ctx, s.db.Pool(), func(r Rows) error { return r.Scan(&a.Name, timeCol{&a.CreatedAt}) },
		"SELECT name, created_at FROM accounts WHERE name = $1", name)
	if err != nil {
		return model.Account{}, fmt.Errorf("get account %s: %w", name, notFound(err))
	}
	return a, nil
}

// ListAccounts returns every tenant, by name.
func (s *Store) ListAccounts(ctx context.Context) ([]model.Account, error) {
	var as []model.Account
	err := queryAll(ctx, s.db.Pool(), func(r Rows) error {
		var a model.Account
		if err := r.Scan(&a.Name, timeCol{&a.CreatedAt}); err != nil {
			return err
		}
		as = append(as, a)
		return nil
	}, "SELECT name, created_at FROM accounts ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	return as, nil
}

const principalCols = "id, account, login, kind, email, display_name, full_name, attributes, tags, source, settings, status, restricted_to, annotations, password_hash, created_at, updated_at, mfa, mfa_seed, mfa_recovery, customer, author, updated_by"

func scanPrincipal(r Rows) (model.Principal, error) {
	var p model.Principal
	var kind, settings string
	err := r.Scan(&p.ID, &p.Account, &p.Login, &kind, &p.Email, &p.DisplayName, &p.FullName,
		jsonCol{&p.Attributes}, jsonCol{&p.Tags}, &p.Source, &settings, &p.Status,
		jsonCol{&p.RestrictedTo}, jsonCol{&p.Annotations}, &p.PasswordHash,
		timeCol{&p.CreatedAt}, timeCol{&p.UpdatedAt}, &p.MFA, &p.MFASeed, jsonCol{&p.MFARecovery}, &p.Customer, &p.Author, &p.UpdatedBy)
	p.Kind = model.Kind(kind)
	if settings != "" {
		p.Settings = []byte(settings)
	}
	return p, err
}

// principalArgs returns p's columns in principalCols order.
func (s *Store) principalArgs(p model.Principal) ([]any, error) {
	js, err := jsonArgs(p.Attributes, p.Tags, p.RestrictedTo, p.Annotations, p.MFARecovery)
	if err != nil {
		return nil, err
	}
	return []any{p.ID, p.Account, p.Login, string(p.Kind), p.Email, p.DisplayName, p.FullName,
		js[0], js[1], p.Source, string(p.Settings), p.Status, js[2], js[3], p.PasswordHash,
		s.db.Time(p.CreatedAt), s.db.Time(p.UpdatedAt), p.MFA, p.MFASeed, js[4], p.Customer, p.Author, p.UpdatedBy, store.SearchText(p)}, nil
}

// CreatePrincipal stores p and, if key is not nil, its first API key.
func (s *Store) CreatePrincipal(ctx context.Context, p model.Principal, key *model.APIKey, evs ...audit.Event) error {
	if p.ID == "" {
		return fmt.Errorf("create principal %s: empty id", p.Login)
	}
	args, err := s.principalArgs(p)
	if err != nil {
		return fmt.Errorf("create principal %s: %w", p.ID, err)
	}
	err = s.write(ctx, ReadCommitted, evs, principalNotes(p, key), func(q Querier) error {
		if _, err := q.Exec(ctx, "INSERT INTO principals ("+principalCols+", search_text) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24)", args...); err != nil {
			return s.constraint(err)
		}
		if key == nil {
			return nil
		}
		k := *key
		if k.Account == "" {
			k.Account = p.Account
		}
		if k.PrincipalID == "" {
			k.PrincipalID = p.ID
		}
		return s.insertAPIKey(ctx, q, k)
	})
	if err != nil {
		return fmt.Errorf("create principal %s: %w", p.ID, err)
	}
	return nil
}

// GetPrincipal returns the account's principal with that id.
func (s *Store) GetPrincipal(ctx context.Context, account, id string) (model.Principal, error) {
	p, err := s.getPrincipal(ctx, s.db.Pool(), account, id, "")
	if err != nil {
		return model.Principal{}, fmt.Errorf("get principal %s: %w", id, err)
	}
	return p, nil
}

// GetPrincipals returns those of the principals named by ids that exist,
// whatever their account.
func (s *Store) GetPrincipals(ctx context.Context, ids []string) ([]model.Principal, error) {
	var ps []model.Principal
	err := eachByID(ctx, s.db.Pool(), principalCols, "principals", ids, func(r Rows) error {
		p, err := scanPrincipal(r)
		ps = append(ps, p)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get %d principals: %w", len(ids), err)
	}
	return ps, nil
}

func (s *Store) getPrincipal(ctx context.Context, q Querier, account, id, suffix string) (model.Principal, error) {
	var p model.Principal
	err := queryOne(ctx, q, func(r Rows) (err error) { p, err = scanPrincipal(r); return err },
		"SELECT "+principalCols+" FROM principals WHERE account = $1 AND id = $2"+suffix, account, id)
	return p, notFound(err)
}

// GetPrincipalByLogin returns the account's principal of that kind and login.
func (s *Store) GetPrincipalByLogin(ctx context.Context, account string, kind model.Kind, login string) (model.Principal, error) {
	var p model.Principal
	err := queryOne(ctx, s.db.Pool(), func(r Rows) (err error) { p, err = scanPrincipal(r); return err },
		"SELECT "+principalCols+" FROM principals WHERE account = $1 AND kind = $2 AND login = $3", account, string(kind), login)
	if err != nil {
		return model.Principal{}, fmt.Errorf("get principal %s:%s:%s: %w", account, kind, login, notFound(err))
	}
	return p, nil
}

// ListPrincipals returns one page of the account's principals whose login
// contains p.Search (ignoring case), ordered by login, and how many match.
func (s *Store) ListPrincipals(ctx context.Context, account string, pg store.Page) ([]model.Principal, int, error) {
	pattern, limit, offset := pageSQL(pg)
	where := " FROM principals WHERE account = $1 AND lower(login) LIKE lower($2) ESCAPE '\\'"
	args := []any{account, pattern}
	if len(pg.Customers) > 0 {
		in := make([]string, 0, len(pg.Customers))
		for _, c := range pg.Customers {
			args = append(args, c)
			in = append(in, "$"+strconv.Itoa(len(args)))
		}
		args = append(args, pg.Self)
		where += " AND (customer IN (" + strings.Join(in, ", ") + ") AND customer <> '' OR id = $" + strconv.Itoa(len(args)) + ")"
	}
	var ps []model.Principal
	var total int
	err := s.db.Read(ctx, func(q Querier) error {
		var err error
		if total, err = count(ctx, q, "SELECT count(*)"+where, args...); err != nil {
			return err
		}
		ps = nil
		n := len(args)
		return queryAll(ctx, q, func(r Rows) error {
			p, err := scanPrincipal(r)
			ps = append(ps, p)
			return err
		}, "SELECT "+principalCols+where+" ORDER BY login, kind, id LIMIT $"+strconv.Itoa(n+1)+" OFFSET $"+strconv.Itoa(n+2),
			append(args, limit, offset)...)
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list principals of %s: %w", account, err)
	}
	return ps, total, nil
}

// errImmutable is returned when an updater changes a record's identity.
var errImmutable = errors.New("an updater may not change the id or account")

// UpdatePrincipal runs update on the stored principal and stores its result.
func (s *Store) UpdatePrincipal(ctx context.Context, account, id string, update func(model.Principal) (model.Principal, error), evs ...audit.Event) (model.Principal, error) {
	var out model.Principal
	err := s.write(ctx, Serializable, evs, changed("principal:"+account+":"+id), func(q Querier) error {
		old, err := s.getPrincipal(ctx, q, account, id, s.db.ForUpdate())
		if err != nil {
			return err
		}
		p, err := update(old)
		if err != nil {
			return err
		}
		if p.ID != old.ID || p.Account != old.Account {
			return errImmutable
		}
		args, err := s.principalArgs(p)
		if err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `UPDATE principals SET login = $3, kind = $4, email = $5, display_name = $6,
			full_name = $7, attributes = $8, tags = $9, source = $10, settings = $11, status = $12,
			restricted_to = $13, annotations = $14, password_hash = $15, created_at = $16, updated_at = $17,
			mfa = $18, mfa_seed = $19, mfa_recovery = $20, customer = $21, author = $22, updated_by = $23, search_text = $24
			WHERE id = $1 AND account = $2`, args...); err != nil {
			return s.constraint(err)
		}
		if p.Status != model.StatusActive && old.Status != p.Status {
			// Disabling ends the principal's surface sessions (PS-Auth
			// cookies, pending sign-ins, tokens) at once.
			if _, err := q.Exec(ctx, "DELETE FROM surface_sessions WHERE account = $1 AND principal_id = $2", account, id); err != nil {
				return err
			}
			// and raises its session epoch: a sign-in whose checks read
			// the old one stores no session, even after a re-enable.
			if _, err := q.Exec(ctx, "UPDATE principals SET session_epoch = session_epoch + 1 WHERE account = $1 AND id = $2", account, id); err != nil {
				return err
			}
		}
		out = p
		return nil
	})
	if err != nil {
		return model.Principal{}, fmt.Errorf("update principal %s: %w", id, err)
	}
	out.CreatedAt, out.UpdatedAt = Micro(out.CreatedAt), Micro(out.UpdatedAt)
	return out, nil
}

// DeletePrincipal removes the principal; its keys and grants go with it.
func (s *Store) DeletePrincipal(ctx context.Context, account, id string, evs ...audit.Event) error {
	err := s.write(ctx, ReadCommitted, evs, changed("principal:"+account+":"+id), func(q Querier) error {
		n, err := q.Exec(ctx, "DELETE FROM principals WHERE account = $1 AND id = $2", account, id)
		if err == nil && n == 0 {
			err = store.ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = q.Exec(ctx, "DELETE FROM surface_sessions WHERE account = $1 AND principal_id = $2", account, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete principal %s: %w", id, err)
	}
	return nil
}

// principalNotes names what creating p (and its first key) changes.
func principalNotes(p model.Principal, key *model.APIKey) func() []string {
	ns := []string{"principal:" + p.Account + ":" + p.ID}
	if key != nil {
		ns = append(ns, "key:"+p.Account+":"+key.ID)
	}
	return func() []string { return ns }
}
