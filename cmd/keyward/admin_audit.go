package main

// keyward audit list (audit verify is offline and lives in serve.go).

import (
	"strconv"

	"github.com/keyward/keyward/internal/api/native"
)

// auditList is keyward audit list: audit records, newest first.
func auditList(c *adminCmd) int {
	p := c.paging("", "at most this many records (0: the server's default)", "skip this many of the newest records")
	p.what = " records"
	head := []string{"SEQ", "TIME", "EVENT", "OUTCOME", "ACTOR", "SUBJECT", "CLIENT IP", "REASON", "DETAIL"}
	return pagedList(c, p, "/api/v1/audit", head, func(r native.AuditRecord) []string {
		return []string{strconv.FormatInt(r.Seq, 10), stamp(&r.Time), r.Event.Event, r.Outcome, orDash(r.Actor), orDash(r.Subject),
			orDash(r.ClientIP), orDash(r.Reason), orDash(r.Detail)}
	})
}
