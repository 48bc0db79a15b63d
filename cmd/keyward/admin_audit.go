package main

// keyward audit list (audit verify is offline and lives in serve.go).

import (
	"fmt"
	"net/url"
	"strconv"

	"github.com/keyward/keyward/internal/api/native"
)

// auditList is keyward audit list: audit records, newest first.
func auditList(c *adminCmd) int {
	limit := c.fs.Int("limit", 0, "at most this many records (0: the server's default)")
	offset := c.fs.Int("offset", 0, "skip this many of the newest records")
	if !c.parse(0, 0) {
		return c.bad()
	}
	if *limit < 0 || *offset < 0 {
		c.usagef("--limit and --offset must not be negative")
		return exitUsage
	}
	q := url.Values{}
	if *limit > 0 {
		q.Set("limit", strconv.Itoa(*limit))
	}
	if *offset > 0 {
		q.Set("offset", strconv.Itoa(*offset))
	}
	path := "/api/v1/audit"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var list native.List[native.AuditRecord]
	b, err := c.fetch("GET", path, nil, &list)
	if err != nil {
		return c.fail(err)
	}
	if c.json {
		c.printJSON(b)
		return exitOK
	}
	w := c.table()
	row(w, "SEQ", "TIME", "EVENT", "OUTCOME", "ACTOR", "SUBJECT", "CLIENT IP", "REASON", "DETAIL")
	for _, r := range list.Items {
		row(w, strconv.FormatInt(r.Seq, 10), stamp(&r.Time), r.Event.Event, r.Outcome, orDash(r.Actor), orDash(r.Subject),
			orDash(r.ClientIP), orDash(r.Reason), orDash(r.Detail))
	}
	w.Flush()
	if len(list.Items) < list.Total {
		fmt.Fprintf(c.stderr, "keyward: showing %d of %d records; use --limit/--offset for more\n", len(list.Items), list.Total)
	}
	return exitOK
}
