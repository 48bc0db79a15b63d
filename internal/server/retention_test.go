package server_test

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/server"
)

// TestAuditRetention: with --audit-retention a serving keyward prunes the
// records older than it, leaving a checkpoint, and records the prune as
// keyward's; newer records stay. Without it nothing is pruned.
func TestAuditRetention(t *testing.T) {
	t.Parallel()
	for _, retention := range []time.Duration{0, 2 * time.Hour} {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		dir := t.TempDir()
		cfg := server.Config{DataDir: dir, Account: "acme", AuditRetention: retention}
		// The chain starts with records 5, 4 and 3 hours old, then one an
		// hour old.
		if _, _, err := crypto.LoadOrCreateMasterKey(filepath.Join(dir, server.MasterKeyFile)); err != nil {
			t.Fatal(err)
		}
		st, err := server.OpenStore(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		for _, age := range []time.Duration{5 * time.Hour, 4 * time.Hour, 3 * time.Hour, time.Hour} {
			if err := st.AppendAudit(ctx, audit.Event{Time: now.Add(-age), Account: "acme", Event: "old", Outcome: audit.Success}); err != nil {
				t.Fatal(err)
			}
		}
		st.Close()

		s, err := server.Open(ctx, cfg, true)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Init(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Serve(ctx, ln) }()
		var c audit.Check
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if c, err = s.Store().VerifyAudit(ctx); err != nil {
				t.Fatal(err)
			}
			if c.From != 0 {
				break
			}
		}
		cancel()
		<-done
		if retention == 0 {
			if c.From != 0 || c.Broken != 0 {
				t.Fatalf("without retention, after 3 s of serving: %+v", c)
			}
			continue
		}
		if c.From != 3 || c.Broken != 0 {
			t.Fatalf("with a retention of 2h: %+v; want intact from checkpoint 3", c)
		}
		recs, _, err := s.Store().ListAudit(context.Background(), "", 1, 0)
		if err != nil || recs[0].Event.Event != "audit.prune" || recs[0].Actor != "keyward" || !strings.Contains(recs[0].Detail, "removed records 1-3") {
			t.Fatalf("the newest record is %+v, %v; want keyward's audit.prune of 1-3", recs, err)
		}
	}
}
