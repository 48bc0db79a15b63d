package postgres

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store/storetest"
)

// TestOneChainFromTwoInstances: two stores on one database append in
// parallel (plain appends and audited writes); the records of a store that
// stops linking (as a killed instance would) are linked by the other; the
// one chain verifies and holds every record, each batch contiguous.
func TestOneChainFromTwoInstances(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	a, err := Open(ctx, dsn, storetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, dsn, storetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.CreateAccount(ctx, model.Account{Name: "acme", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	const workers, rounds = 6, 20
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers)
	for _, st := range []*Store{a, b} {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range rounds {
					name := fmt.Sprintf("%p-%d-%d", st, w, r)
					if err := st.AppendAudit(ctx, audit.Event{Account: "acme", Event: name + "-a", Outcome: audit.Success},
						audit.Event{Account: "acme", Event: name + "-b", Outcome: audit.Success}); err != nil {
						errs <- err
						return
					}
				}
				p := model.Principal{ID: fmt.Sprintf("p%p%d", st, w), Account: "acme", Login: fmt.Sprintf("u%p%d", st, w),
					Kind: model.KindUser, Status: model.StatusActive, CreatedAt: time.Now(), UpdatedAt: time.Now()}
				if err := st.CreatePrincipal(ctx, p, nil, audit.Event{Account: "acme", Event: "user.create", Outcome: audit.Success}); err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// A stops linking (its final link done), then appends: its records stay
	// pending, durable, until B's linker takes them.
	a.stopLinker()
	<-a.linkerDone
	a.stopLinker = nil
	if err := a.AppendAudit(ctx, audit.Event{Account: "acme", Event: "orphan-a", Outcome: audit.Success},
		audit.Event{Account: "acme", Event: "orphan-b", Outcome: audit.Success}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n int
		if err := b.db.pool.QueryRow(ctx, "SELECT count(*) FROM audit_pending").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d batches still pending after 5 s: the other instance's linker did not take them", n)
		}
		time.Sleep(10 * time.Millisecond)
	}

	want := 2*workers*(2*rounds+1) + 2
	recs, total, err := b.ListAudit(ctx, "", want+10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if total != want || len(recs) != want {
		t.Fatalf("chain holds %d records (listed %d), want %d", total, len(recs), want)
	}
	for i, r := range recs { // newest first: each "-b" right before its "-a"
		if n := r.Event.Event; n[len(n)-2:] == "-b" && (i+1 >= len(recs) || recs[i+1].Event.Event != n[:len(n)-2]+"-a") {
			t.Fatalf("batch split at %s", n)
		}
	}
	c, err := a.VerifyAudit(ctx)
	if err != nil || c.Broken != 0 || c.Records != int64(want) {
		t.Fatalf("verify: %+v %v", c, err)
	}
}
