package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/keyward/keyward/internal/audit"
)

// compactVersion is the migration that made audit records compact (0006):
// it drops the columns (time text, prev_hash, hash as text) in which a
// record altered before it shows, and it creates the checkpoint.
const compactVersion = 6

// WithAuditSteps returns ms with the Go steps of the compact audit
// migration under key: before it, a check that no record was altered in a
// way only the dropped columns show (the upgrade must not turn a broken
// chain into an intact one); after it, the genesis checkpoint signed under
// key, keyed when the chain's first record is (or there is none), so that
// no unkeyed record verifies from then on. firstUnkeyed says that the
// chain's first record, not in the table yet (an SQLite journal left by a
// keyward from before keyed chaining), is unkeyed.
func WithAuditSteps(ms []Migration, key *audit.Key, firstUnkeyed bool) []Migration {
	out := append([]Migration(nil), ms...)
	for i := range out {
		if out[i].Version == compactVersion {
			out[i].Before = checkOldChain
			out[i].After = func(ctx context.Context, q Querier) error { return signGenesis(ctx, q, key, firstUnkeyed) }
		}
	}
	return out
}

// checkOldChain checks the records in the format before migration 0006:
// the time text against time_us, each prev_hash against the previous
// record's hash, and hashes as lower-case hex.
func checkOldChain(ctx context.Context, q Querier) error {
	rows, err := q.Query(ctx, "SELECT seq, time, time_us, prev_hash, hash FROM audit_events ORDER BY seq")
	if err != nil {
		return fmt.Errorf("check the audit chain before converting it: %w", err)
	}
	defer rows.Close()
	prev := audit.GenesisHash
	for rows.Next() {
		var seq, us int64
		var text, prevHash, hash string
		if err := rows.Scan(&seq, &text, &us, &prevHash, &hash); err != nil {
			return fmt.Errorf("check the audit chain before converting it: %w", err)
		}
		var why string
		t, terr := time.Parse(time.RFC3339Nano, text)
		switch {
		case terr != nil || t.UnixMicro() != us:
			why = "its time text disagrees with time_us"
		case prevHash != prev:
			why = "its prev_hash does not link to the record before it"
		case !lowerHex(hash):
			why = "its hash is not lower-case hex of 32 bytes"
		}
		if why != "" {
			return fmt.Errorf("audit record %d was altered before this upgrade (%s), which the new format would no longer show: "+
				"nothing was changed; run `keyward audit verify` with the previous keyward to see it, and restore a backup "+
				"or keep the evidence before upgrading", seq, why)
		}
		prev = hash
	}
	return rows.Err()
}

func lowerHex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// signGenesis signs the genesis checkpoint of a chain nothing was pruned
// from: keyed when its first record is keyed or it has none.
func signGenesis(ctx context.Context, q Querier, key *audit.Key, firstUnkeyed bool) error {
	keyed := !firstUnkeyed
	err := queryOne(ctx, q, func(r Rows) error {
		var k int64
		err := r.Scan(&k)
		keyed = k != 0
		return err
	}, "SELECT keyed FROM audit_events ORDER BY seq LIMIT 1")
	if err != nil && err != errNoRows {
		return fmt.Errorf("sign the audit genesis: %w", err)
	}
	cp := key.GenesisCheckpoint(keyed)
	if _, err := q.Exec(ctx, "UPDATE audit_checkpoint SET seq = 0, hash = $1, keyed = $2, mac = $3 WHERE id = 1",
		cp.Hash, keyedInt(cp.Keyed), cp.MAC); err != nil {
		return fmt.Errorf("sign the audit genesis: %w", err)
	}
	return nil
}
