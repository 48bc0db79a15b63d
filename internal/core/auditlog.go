package core

import (
	"context"

	"github.com/keyward/keyward/internal/audit"
)

// ListAudit returns one page of the account's audit records, newest first.
func (c *Core) ListAudit(ctx context.Context, a *Access, limit, offset int) ([]audit.Record, int, error) {
	if err := c.Require(ctx, a, PermAuditView); err != nil {
		return nil, 0, err
	}
	if limit < 0 || offset < 0 {
		return nil, 0, invalid("limit", "limit and offset must not be negative")
	}
	if limit == 0 || limit > 1000 {
		limit = min(max(limit, 100), 1000)
	}
	rs, total, err := c.st.ListAudit(ctx, a.Session.Account, limit, offset)
	return rs, total, wrapStore(err, "audit")
}
