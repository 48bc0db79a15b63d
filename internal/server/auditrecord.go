package server

import "github.com/keyward/keyward/internal/audit"

// AuditRecord is a stored audit record, for the CLI's audit export (the
// command layer reaches the audit package only through the server).
type AuditRecord = audit.Record

// AuditSuccess is an audit record's outcome when the step succeeded.
const AuditSuccess = audit.Success
