package sqlite

// AuditBacklog is the number of audit records in the journal waiting to be
// moved into the table (0 for a read-only store, which has no journal).
func (s *Store) AuditBacklog() int {
	j := s.db.j
	if j == nil {
		return 0
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.pending) + j.taken
}

// AuditIngestFailures is how many moves of the journal into the table have
// failed since the store was opened (each is retried).
func (s *Store) AuditIngestFailures() int64 {
	if s.db.j == nil {
		return 0
	}
	return s.db.j.failures.Load()
}
