-- Review r25b R5: a pending batch no appender writes (more records than sqlstore.PendingMaxRecords, 1024, the most one link transaction takes; columns
-- of different lengths or not one-dimensional) is refused at insert, so a database writer cannot stall every
-- linker with one huge forged row. NOT VALID: rows already pending are not checked here; the linker moves any
-- such row to audit_quarantine server-side, without reading it, and chains an audit.pending_rejected record.
ALTER TABLE audit_pending ADD CONSTRAINT audit_pending_batch_bound CHECK (
	cardinality(time_us) BETWEEN 1 AND 1024
	AND array_ndims(time_us) = 1 AND array_ndims(account) = 1 AND array_ndims(event) = 1
	AND array_ndims(outcome) = 1 AND array_ndims(reason) = 1 AND array_ndims(actor) = 1
	AND array_ndims(subject) = 1 AND array_ndims(key_id) = 1 AND array_ndims(client_ip) = 1
	AND array_ndims(peer_ip) = 1 AND array_ndims(request_id) = 1 AND array_ndims(authenticator) = 1
	AND array_ndims(detail) = 1
	AND cardinality(account) = cardinality(time_us) AND cardinality(event) = cardinality(time_us)
	AND cardinality(outcome) = cardinality(time_us) AND cardinality(reason) = cardinality(time_us)
	AND cardinality(actor) = cardinality(time_us) AND cardinality(subject) = cardinality(time_us)
	AND cardinality(key_id) = cardinality(time_us) AND cardinality(client_ip) = cardinality(time_us)
	AND cardinality(peer_ip) = cardinality(time_us) AND cardinality(request_id) = cardinality(time_us)
	AND cardinality(authenticator) = cardinality(time_us) AND cardinality(detail) = cardinality(time_us)
) NOT VALID;
