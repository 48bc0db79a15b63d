package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/store/storetest"
)

// TestAuditRecordSize: an audited verification costs the database at most
// 168 bytes, half of the 335 it cost before migration 0006 (bench/auditsize.sh
// measures the same through the server).
func TestAuditRecordSize(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keyward.db")
	size := func() int64 {
		t.Helper()
		s, err := Open(ctx, path, storetest.Key)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil { // checkpoints the WAL into the file
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	s, err := Open(ctx, path, storetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20000
	start := time.Now()
	for i := 0; i < n; i += 16 {
		evs := make([]audit.Event, 16)
		for j := range evs {
			// What the server writes for POST /api/v1/api-keys/verify.
			evs[j] = audit.Event{Time: start.Add(time.Duration(i+j) * 50 * time.Microsecond), Account: "default", Event: "apikey.verify",
				Outcome: audit.Success, Actor: "default:host:app", Subject: "default:host:app", KeyID: "vfjva23slugmfr3m",
				ClientIP: "127.0.0.1", PeerIP: "127.0.0.1", RequestID: "c4b545fbb1437015-" + strconv.FormatInt(int64(i+j), 36),
				Authenticator: "authn"}
		}
		if err := s.AppendAudit(ctx, evs...); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	per := (size() - before) / n
	t.Logf("%d bytes per audited verification", per)
	if per > 168 {
		t.Fatalf("an audited verification costs %d bytes; want at most 168", per)
	}
}
