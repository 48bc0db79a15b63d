package core

import (
	"context"

	"github.com/keyward/keyward/internal/audit"
)

// ListAudit returns one page of the account's audit records, newest first.
func (c *Core) ListAudit(ctx context.Context, s Session, caller Caller, limit, offset int) ([]audit.Record, int, error) {
	if err := c.Authorize(ctx, s, caller, PermAuditView); err != nil {
		return nil, 0, err
	}
	if limit < 0 || offset < 0 {
		return nil, 0, invalid("limit", "limit and offset must not be negative")
	}
	if limit == 0 || limit > 1000 {
		limit = min(max(limit, 100), 1000)
	}
	rs, total, err := c.st.ListAudit(ctx, s.Account, limit, offset)
	return rs, total, wrapStore(err, "audit")
}

// RecordDenial audits a refusal decided outside the core (a surface's
// route table), so every denial is recorded.
func (c *Core) RecordDenial(ctx context.Context, s Session, caller Caller, event, reason, detail string) {
	ev := fail(c.event(caller, s.Account, event), reason)
	ev.Actor, ev.Detail = s.RoleID(), detail
	ev.Subject = ev.Actor
	c.recordFailure(ctx, ev)
}

// RecordAuthnFailure audits a failed authentication that the core did not
// see (missing or malformed credentials at a surface).
func (c *Core) RecordAuthnFailure(ctx context.Context, caller Caller, account, login, event, authenticator, reason string) {
	ev := fail(c.event(caller, account, event), reason)
	ev.Actor = subjectRoleID(account, login)
	if login == "" {
		ev.Actor = account + ":user:unknown"
	}
	ev.Subject, ev.Authenticator = ev.Actor, authenticator
	c.recordFailure(ctx, ev)
}
