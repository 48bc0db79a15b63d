package core

import (
	"context"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/store"
)

// auditService is the audit log as the surfaces see it: listing records and
// the counts for metrics. The group commit behind it (auditor) is shared:
// every service records through it.
type auditService struct {
	st     store.Store
	audit  *auditor
	access *accessService
}

// ListAudit returns one page of the account's audit records, newest first.
func (c *auditService) ListAudit(ctx context.Context, a *Access, limit, offset int) ([]audit.Record, int, error) {
	return c.ListAuditFiltered(ctx, a, audit.Filter{}, limit, offset)
}

// AuditFilter narrows an audit listing (exact matches; Since inclusive,
// Until exclusive).
type AuditFilter = audit.Filter

// ListAuditFiltered returns one page of the account's audit records that f
// matches, newest first, and how many match. The log is about every
// principal of the account, so a customer-limited session may not read it.
func (c *auditService) ListAuditFiltered(ctx context.Context, a *Access, f audit.Filter, limit, offset int) ([]audit.Record, int, error) {
	if err := c.access.Require(ctx, a, PermAuditView); err != nil {
		return nil, 0, err
	}
	if err := c.access.accountWide(ctx, a, "read", "the audit log"); err != nil {
		return nil, 0, err
	}
	if limit < 0 || offset < 0 {
		return nil, 0, invalid("limit", "limit and offset must not be negative")
	}
	if limit == 0 || limit > 1000 {
		limit = min(max(limit, 100), 1000)
	}
	rs, total, err := c.st.ListAuditFiltered(ctx, a.Session.Account, f, limit, offset)
	return rs, total, wrapStore(err, "audit")
}
