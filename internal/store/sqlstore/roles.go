package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

const roleCols = "id, account, name, description, permissions, context, built_in, created_at, updated_at, arn, source_rules, author, updated_by"

func scanRole(r Rows) (model.Role, error) {
	var ro model.Role
	err := r.Scan(&ro.ID, &ro.Account, &ro.Name, &ro.Description, jsonCol{&ro.Permissions},
		jsonCol{&ro.Context}, &ro.BuiltIn, timeCol{&ro.CreatedAt}, timeCol{&ro.UpdatedAt}, &ro.ARN, jsonCol{&ro.SourceRules},
		&ro.Author, &ro.UpdatedBy)
	return ro, err
}

func (s *Store) roleArgs(ro model.Role) ([]any, error) {
	js, err := jsonArgs(ro.Permissions, ro.Context, ro.SourceRules)
	if err != nil {
		return nil, err
	}
	return []any{ro.ID, ro.Account, ro.Name, ro.Description, js[0], js[1], ro.BuiltIn,
		s.db.Time(ro.CreatedAt), s.db.Time(ro.UpdatedAt), ro.ARN, js[2], ro.Author, ro.UpdatedBy}, nil
}

// CreateRole stores r; its name must be new in its account.
func (s *Store) CreateRole(ctx context.Context, r model.Role, evs ...audit.Event) error {
	if r.ID == "" {
		return fmt.Errorf("create role %s: empty id", r.Name)
	}
	args, err := s.roleArgs(r)
	if err != nil {
		return fmt.Errorf("create role %s: %w", r.ID, err)
	}
	err = s.write(ctx, ReadCommitted, evs, changed("role:"+r.Account+":"+r.ID), func(q Querier) error {
		_, err := q.Exec(ctx, "INSERT INTO roles ("+roleCols+") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)", args...)
		return s.constraint(err)
	})
	if err != nil {
		return fmt.Errorf("create role %s: %w", r.ID, err)
	}
	return nil
}

func (s *Store) getRole(ctx context.Context, q Querier, where string, args ...any) (model.Role, error) {
	var ro model.Role
	err := queryOne(ctx, q, func(r Rows) (err error) { ro, err = scanRole(r); return err },
		"SELECT "+roleCols+" FROM roles WHERE "+where, args...)
	return ro, notFound(err)
}

// GetRole returns the account's role with that id.
func (s *Store) GetRole(ctx context.Context, account, id string) (model.Role, error) {
	ro, err := s.getRole(ctx, s.db.Pool(), "account = $1 AND id = $2", account, id)
	if err != nil {
		return model.Role{}, fmt.Errorf("get role %s: %w", id, err)
	}
	return ro, nil
}

// GetRoleByName returns the account's role with that name.
func (s *Store) GetRoleByName(ctx context.Context, account, name string) (model.Role, error) {
	ro, err := s.getRole(ctx, s.db.Pool(), "account = $1 AND name = $2", account, name)
	if err != nil {
		return model.Role{}, fmt.Errorf("get role %s:%s: %w", account, name, err)
	}
	return ro, nil
}

// ListRoles returns one page of the account's roles whose name contains
// p.Search (ignoring case), ordered by name, and how many match.
func (s *Store) ListRoles(ctx context.Context, account string, pg store.Page) ([]model.Role, int, error) {
	pattern, limit, offset := pageSQL(pg)
	var rs []model.Role
	var total int
	err := s.db.Read(ctx, func(q Querier) error {
		const where = " FROM roles WHERE account = $1 AND lower(name) LIKE lower($2) ESCAPE '\\'"
		var err error
		if total, err = count(ctx, q, "SELECT count(*)"+where, account, pattern); err != nil {
			return err
		}
		rs = nil
		return queryAll(ctx, q, func(r Rows) error {
			ro, err := scanRole(r)
			rs = append(rs, ro)
			return err
		}, "SELECT "+roleCols+where+" ORDER BY name, id LIMIT $3 OFFSET $4", account, pattern, limit, offset)
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list roles of %s: %w", account, err)
	}
	return rs, total, nil
}

// UpdateRole runs update on the stored role and stores its result.
func (s *Store) UpdateRole(ctx context.Context, account, id string, update func(model.Role) (model.Role, error), evs ...audit.Event) (model.Role, error) {
	var out model.Role
	err := s.write(ctx, Serializable, evs, changed("role:"+account+":"+id), func(q Querier) error {
		old, err := s.getRole(ctx, q, "account = $1 AND id = $2"+s.db.ForUpdate(), account, id)
		if err != nil {
			return err
		}
		ro, err := update(old)
		if err != nil {
			return err
		}
		if ro.ID != old.ID || ro.Account != old.Account {
			return errImmutable
		}
		args, err := s.roleArgs(ro)
		if err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `UPDATE roles SET name = $3, description = $4, permissions = $5, context = $6,
			built_in = $7, created_at = $8, updated_at = $9, arn = $10, source_rules = $11, author = $12,
			updated_by = $13 WHERE id = $1 AND account = $2`, args...); err != nil {
			return s.constraint(err)
		}
		out = ro
		return nil
	})
	if err != nil {
		return model.Role{}, fmt.Errorf("update role %s: %w", id, err)
	}
	out.CreatedAt, out.UpdatedAt = Micro(out.CreatedAt), Micro(out.UpdatedAt)
	return out, nil
}

// DeleteRole removes the role; every grant of it goes with it.
func (s *Store) DeleteRole(ctx context.Context, account, id string, evs ...audit.Event) error {
	err := s.write(ctx, ReadCommitted, evs, changed("role:"+account+":"+id), func(q Querier) error {
		n, err := q.Exec(ctx, "DELETE FROM roles WHERE account = $1 AND id = $2", account, id)
		if err == nil && n == 0 {
			err = store.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete role %s: %w", id, err)
	}
	return nil
}

const grantCols = "account, principal_id, role_id, source, type, periods, floating_length, activated_at, created_at"

func scanGrant(r Rows) (model.Grant, error) {
	var g model.Grant
	var fl int64
	err := r.Scan(&g.Account, &g.PrincipalID, &g.RoleID, &g.Source, &g.Type, jsonCol{&g.Periods},
		&fl, nullTimeCol{&g.ActivatedAt}, timeCol{&g.CreatedAt})
	g.FloatingLength = int(fl)
	return g, err
}

// SetGrants replaces the principal's grants from source with gs. A replaced
// grant of the same role that was already activated keeps its activation
// time unless the new grant brings one, so re-syncing grants does not
// restart a floating grant's window.
func (s *Store) SetGrants(ctx context.Context, account, principalID, source string, gs []model.Grant, evs ...audit.Event) error {
	err := s.write(ctx, Serializable, evs, changed("grants:"+account+":"+principalID), func(q Querier) error {
		if _, err := s.getPrincipal(ctx, q, account, principalID, ""); err != nil {
			return err
		}
		activated := map[string]time.Time{}
		err := queryAll(ctx, q, func(r Rows) error {
			var role string
			var at *time.Time
			if err := r.Scan(&role, nullTimeCol{&at}); err != nil {
				return err
			}
			if at != nil {
				activated[role] = *at
			}
			return nil
		}, "SELECT role_id, activated_at FROM grants WHERE account = $1 AND principal_id = $2 AND source = $3",
			account, principalID, source)
		if err != nil {
			return err
		}
		if _, err := q.Exec(ctx, "DELETE FROM grants WHERE account = $1 AND principal_id = $2 AND source = $3",
			account, principalID, source); err != nil {
			return err
		}
		for _, g := range gs {
			act := g.ActivatedAt
			if t, ok := activated[g.RoleID]; ok && act == nil {
				act = &t
			}
			if g.CreatedAt.IsZero() {
				g.CreatedAt = time.Now()
			}
			periods, err := jsonText(normPeriods(g.Periods))
			if err != nil {
				return err
			}
			if _, err := q.Exec(ctx, "INSERT INTO grants ("+grantCols+") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
				account, principalID, g.RoleID, source, g.Type, periods, int64(g.FloatingLength),
				s.optTime(act), s.db.Time(g.CreatedAt)); err != nil {
				return s.constraint(err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set %s grants of %s: %w", source, principalID, err)
	}
	return nil
}

func normPeriods(ps []model.Period) []model.Period {
	if ps == nil {
		return nil
	}
	out := make([]model.Period, len(ps))
	for i, p := range ps {
		out[i] = model.Period{Start: Micro(p.Start), End: Micro(p.End)}
	}
	return out
}

// ListGrants returns the principal's grants from every source.
func (s *Store) ListGrants(ctx context.Context, account, principalID string) ([]model.Grant, error) {
	var gs []model.Grant
	err := queryAll(ctx, s.db.Pool(), func(r Rows) error {
		g, err := scanGrant(r)
		gs = append(gs, g)
		return err
	}, "SELECT "+grantCols+" FROM grants WHERE account = $1 AND principal_id = $2 ORDER BY role_id, source",
		account, principalID)
	if err != nil {
		return nil, fmt.Errorf("list grants of %s: %w", principalID, err)
	}
	return gs, nil
}

// RoleHolders lists the principals holding the role by any grant.
func (s *Store) RoleHolders(ctx context.Context, account, roleID string) ([]string, error) {
	var ids []string
	err := queryAll(ctx, s.db.Pool(), func(r Rows) error {
		var id string
		err := r.Scan(&id)
		ids = append(ids, id)
		return err
	}, "SELECT DISTINCT principal_id FROM grants WHERE account = $1 AND role_id = $2 ORDER BY principal_id", account, roleID)
	if err != nil {
		return nil, fmt.Errorf("holders of role %s: %w", roleID, err)
	}
	return ids, nil
}

// ActivateGrant records the first use of the principal's grants of the role;
// a grant already active keeps its time.
func (s *Store) ActivateGrant(ctx context.Context, account, principalID, roleID string, at time.Time, evs ...audit.Event) error {
	err := s.write(ctx, ReadCommitted, evs, changed("grants:"+account+":"+principalID), func(q Querier) error {
		if _, err := q.Exec(ctx, `UPDATE grants SET activated_at = $4
			WHERE account = $1 AND principal_id = $2 AND role_id = $3 AND activated_at IS NULL`,
			account, principalID, roleID, s.db.Time(at)); err != nil {
			return err
		}
		n, err := count(ctx, q, "SELECT count(*) FROM grants WHERE account = $1 AND principal_id = $2 AND role_id = $3",
			account, principalID, roleID)
		if err == nil && n == 0 {
			err = store.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("activate grant of %s to %s: %w", roleID, principalID, err)
	}
	return nil
}
