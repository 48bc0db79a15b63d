package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/store/sqlstore"
	"github.com/keyward/keyward/internal/store/storetest"
)

func jev(i int) audit.Event {
	return audit.Event{Account: "acme", Event: "apikey.verify", Outcome: audit.Success, Actor: "acme:user:bob",
		Subject: "acme:user:bob", KeyID: "k1", ClientIP: "192.0.2.7", RequestID: fmt.Sprintf("r-%d", i),
		Detail: "tab\there, newline\nhere, quote \" and ünïcode"}
}

// stopIngest stops s's ingester, so appended records stay in the journal
// as a killed process would leave them.
func stopIngest(t *testing.T, s *Store) {
	t.Helper()
	close(s.db.stop)
	<-s.db.done
	s.db.stop = nil
}

// crashCopy copies the files a process killed now would leave behind (the
// database, its WAL and the journal) into a new folder, and returns the
// database path there.
func crashCopy(t *testing.T, path string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "keyward.db")
	for _, suffix := range []string{"", "-wal", journalFiles[0], journalFiles[1]} {
		b, err := os.ReadFile(path + suffix)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// journalOnly opens a store whose ingester is stopped and appends n records,
// one per call: they are in the journal only.
func journalOnly(t *testing.T, n int) (string, *Store) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keyward.db")
	s := mustOpen(t, path)
	stopIngest(t, s)
	for i := range n {
		if err := s.AppendAudit(context.Background(), jev(i)); err != nil {
			t.Fatal(err)
		}
	}
	return path, s
}

// rawExec runs SQL on the writer connection between the store's own
// transactions: run while the ingester's transaction is open, it would
// become part of it.
func rawExec(s *Store, query string, args ...any) error {
	s.db.wmu.Lock()
	defer s.db.wmu.Unlock()
	_, err := s.db.wc.ExecContext(context.Background(), query, args...)
	return err
}

func mustOpen(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, storetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func intact(t *testing.T, s *Store, wantTotal int) {
	t.Helper()
	c, err := s.VerifyAudit(context.Background())
	if err != nil || c.Broken != 0 || c.Unkeyed != 0 {
		t.Fatalf("verify = %+v %v; want an intact, keyed chain", c, err)
	}
	_, total, err := s.ListAudit(context.Background(), "", 1, 0)
	if err != nil || total != wantTotal {
		t.Fatalf("total = %d, %v; want %d", total, err, wantTotal)
	}
}

func TestJournalRecordsSurviveACrash(t *testing.T) {
	ctx := context.Background()
	path, s := journalOnly(t, 10)
	// A write carrying its own record takes the journal's records first.
	if err := s.CreateAccount(ctx, model.Account{Name: "acme"}, jev(100)); err != nil {
		t.Fatal(err)
	}
	for i := 10; i < 20; i++ {
		if err := s.AppendAudit(ctx, jev(i), jev(i+1000)); err != nil {
			t.Fatal(err)
		}
	}
	if fi, err := os.Stat(path + journalFiles[0]); err != nil || fi.Size() == 0 {
		t.Fatalf("journal after appends: %v %v; want records in it", fi, err)
	}
	cp := crashCopy(t, path)
	c := mustOpen(t, cp)
	intact(t, c, 31)
	recs, _, err := c.ListAudit(ctx, "", 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	if recs[0].RequestID != "r-1019" || recs[0].Detail != jev(0).Detail || recs[30].RequestID != "r-0" || recs[20].RequestID != "r-100" {
		t.Fatalf("replayed records out of order or altered: first %+v, last %+v", recs[0], recs[30])
	}
	for _, suffix := range journalFiles {
		if fi, err := os.Stat(cp + suffix); err != nil || fi.Size() != 0 {
			t.Fatalf("journal %s after replay: %v %v; want empty", suffix, fi, err)
		}
	}
}

func TestJournalIgnoresAnUnfinishedLastLine(t *testing.T) {
	path, _ := journalOnly(t, 3)
	c := crashCopy(t, path)
	f, err := os.OpenFile(c+journalFiles[0], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(journalVersion + "\t4\tabc") // a write cut short: no newline
	f.Close()
	intact(t, mustOpen(t, c), 3)
}

func TestJournalThatBreaksTheChainIsRefused(t *testing.T) {
	ctx := context.Background()
	path, _ := journalOnly(t, 4)
	cases := map[string]func(lines []string) []string{
		"altered":   func(l []string) []string { l[1] = strings.Replace(l[1], `"r-1"`, `"r-x"`, 1); return l },
		"removed":   func(l []string) []string { return append(l[:1], l[2:]...) },
		"malformed": func(l []string) []string { l[2] = "garbage"; return l },
		"relinked": func(l []string) []string {
			f := strings.Split(l[2], "\t")
			f[2] = audit.GenesisHash
			l[2] = strings.Join(f, "\t")
			return l
		},
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			c := crashCopy(t, path)
			b, err := os.ReadFile(c + journalFiles[0])
			if err != nil {
				t.Fatal(err)
			}
			lines := change(strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"))
			if err := os.WriteFile(c+journalFiles[0], []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			o, err := Open(ctx, c, storetest.Key)
			if err == nil {
				o.Close()
				t.Fatal("opened over a journal that breaks the chain")
			}
			if !strings.Contains(err.Error(), "audit journal") || !strings.Contains(err.Error(), "kept for inspection") {
				t.Fatalf("error %q does not say what is wrong", err)
			}
			// Nothing was written: the journal is still there to inspect.
			if after, _ := os.ReadFile(c + journalFiles[0]); len(after) == 0 {
				t.Fatal("the refused journal was emptied")
			}
		})
	}
}

func TestOneProcessPerDatabase(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keyward.db")
	s, err := Open(ctx, path, storetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, jev(1)); err != nil {
		t.Fatal(err)
	}
	if o, err := Open(ctx, path, storetest.Key); !errors.Is(err, ErrInUse) {
		if o != nil {
			o.Close()
		}
		t.Fatalf("second open: %v; want ErrInUse", err)
	}
	// A reader beside it sees the table and cannot write.
	r, err := OpenReadOnly(ctx, path, storetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.AppendAudit(ctx, jev(2)); err == nil {
		t.Fatal("a read-only store appended")
	}
	if err := r.CreateAccount(ctx, model.Account{Name: "x"}, jev(3)); err == nil {
		t.Fatal("a read-only store wrote")
	}
	r.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	intact(t, mustOpen(t, path), 1)
}

func TestJournalConcurrentAppendsWritesAndReads(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keyward.db")
	s := mustOpen(t, path)
	if err := s.CreateAccount(ctx, model.Account{Name: "acme"}, jev(0)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				if err := s.AppendAudit(ctx, jev(g*1000+i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range 20 {
			p := model.Principal{ID: fmt.Sprintf("p%d", i), Account: "acme", Kind: model.KindUser, Login: fmt.Sprintf("u%d", i)}
			if err := s.CreatePrincipal(ctx, p, nil, jev(5000+i)); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for range 20 {
			if _, _, err := s.ListAudit(ctx, "acme", 5, 0); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	intact(t, s, 1+4*300+20)
}

func TestJournalBackpressureWhenTheTableRefuses(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, filepath.Join(t.TempDir(), "keyward.db"))
	if err := rawExec(s, `CREATE TRIGGER refuse BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'disk says no'); END`); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ListAudit(ctx, "", 1, 0); err != nil {
		t.Fatal(err) // nothing pending yet: nothing to ingest
	}
	batch := make([]audit.Event, 1024)
	for i := range batch {
		batch[i] = jev(i)
	}
	var appended int
	var err error
	for appended <= journalMaxPending {
		if err = s.AppendAudit(ctx, batch...); err != nil {
			break
		}
		appended += len(batch)
	}
	if err == nil || !strings.Contains(err.Error(), "disk says no") && !strings.Contains(err.Error(), "waiting for the database") {
		t.Fatalf("after %d records the table refuses: append err = %v; want a refusal naming the cause", appended, err)
	}
	if _, _, err := s.ListAudit(ctx, "", 1, 0); err == nil || !strings.Contains(err.Error(), "disk says no") {
		t.Fatalf("list while the table refuses: %v; want the cause", err)
	}
	if err := s.Ping(ctx); err == nil || !strings.Contains(err.Error(), "disk says no") {
		t.Fatalf("ping while the table refuses: %v; want not ready, with the cause", err)
	}
	// The database recovers: everything appended reaches the table, in one chain.
	if err := rawExec(s, "DROP TRIGGER refuse"); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, jev(-1)); err != nil && !strings.Contains(err.Error(), "waiting") {
		t.Fatal(err)
	}
	if _, _, err := s.ListAudit(ctx, "", 1, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, jev(-2)); err != nil {
		t.Fatalf("append after recovery: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("ping after recovery: %v", err)
	}
	_, total, _ := s.ListAudit(ctx, "", 1, 0)
	if total < appended+1 {
		t.Fatalf("total after recovery = %d; want at least %d", total, appended+1)
	}
	intact(t, s, total)
}

var _ store.Store = (*Store)(nil)

func TestJournalLineRoundTrip(t *testing.T) {
	for i, s := range []string{"", "plain ascii ~", "quote\" back\\slash", "tab\tnl\n", "\x00\x7f", "ünï", "bad\xffutf8", "\u2028"} {
		if got := string(appendQuoted(nil, s)); got != strconv.Quote(s) {
			t.Errorf("appendQuoted(%q) = %s, want %s", s, got, strconv.Quote(s))
		}
		ev := jev(i)
		ev.Detail, ev.Reason = s, s
		ev.Time = time.UnixMicro(1700000000123456 + int64(i))
		r := storetest.Key.Seal(int64(i+1), audit.GenesisHash, ev)
		line := appendLine(nil, &r)
		got, err := parseLine(line[:len(line)-1])
		if err != nil || got != r {
			t.Errorf("%q: parse(append(r)) = %+v, %v; want %+v", s, got, err, r)
		}
	}
}

// TestJournalSurvivesCancelledReaders: a reader whose context ends while
// its ListAudit brings the journal in must not leave the ingest half done.
func TestJournalSurvivesCancelledReaders(t *testing.T) {
	ctx := context.Background()
	_, s := journalOnly(t, 0)
	if err := s.CreateAccount(ctx, model.Account{Name: "acme"}, jev(0)); err != nil {
		t.Fatal(err)
	}
	batch := make([]audit.Event, 512)
	for i := range batch {
		batch[i] = jev(i)
	}
	total := 1
	for round := range 16 {
		for range 4 {
			if err := s.AppendAudit(ctx, batch...); err != nil {
				t.Fatal(err)
			}
			total += len(batch)
		}
		c, cancel := context.WithTimeout(ctx, time.Duration(100+round*100)*time.Microsecond)
		_, _, _ = s.ListAudit(c, "", 1, 0)
		cancel()
		if err := s.db.ingest(ctx); err != nil {
			t.Fatalf("round %d: ingest after a cancelled read: %v", round, err)
		}
	}
	if err := s.CreatePrincipal(ctx, model.Principal{ID: "p1", Account: "acme", Kind: model.KindUser, Login: "u1"}, nil, jev(9)); err != nil {
		t.Fatalf("write after cancelled reads: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	intact(t, s, total+1)
}

// TestJournalCloseWaitsForWrites: Close while appends and audited writes
// run; every one that succeeded is there after reopening.
func TestJournalCloseWaitsForWrites(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keyward.db")
	s, err := Open(ctx, path, storetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAccount(ctx, model.Account{Name: "acme"}, jev(0)); err != nil {
		t.Fatal(err)
	}
	var ok atomic.Int64
	ok.Add(1)
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				if err := s.AppendAudit(ctx, jev(g*100000+i)); err != nil {
					return
				}
				ok.Add(1)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			p := model.Principal{ID: fmt.Sprintf("p%d", i), Account: "acme", Kind: model.KindUser, Login: fmt.Sprintf("u%d", i)}
			if err := s.CreatePrincipal(ctx, p, nil, jev(5000+i)); err != nil {
				return
			}
			ok.Add(1)
		}
	}()
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	wg.Wait()
	intact(t, mustOpen(t, path), int(ok.Load()))
}

func TestJournalWithADuplicateRecordIsRefused(t *testing.T) {
	ctx := context.Background()
	path, s := journalOnly(t, 4)
	// Half of the records reach the table; all four stay in the journal.
	s.db.j.mu.Lock()
	half := append([]audit.Record(nil), s.db.j.pending[:2]...)
	s.db.j.mu.Unlock()
	s.db.wmu.Lock()
	err := s.db.writeLocked(ctx, func(q sqlstore.Querier) error { return s.db.st.InsertRecords(ctx, q, half, sqlstore.Names{}) })
	s.db.wmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	forge := func(t *testing.T, file string, seq int) string {
		c := crashCopy(t, path)
		forged := half[seq-1]
		forged.Detail = "forged"
		forged.Hash = storetest.Key.Chain(forged.Seq, forged.PrevHash, &forged.Event)
		f, err := os.OpenFile(c+file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(appendLine(nil, &forged))
		f.Close()
		return c
	}
	for name, c := range map[string]string{
		"second copy of a record in the table":   forge(t, journalFiles[1], 2),
		"second copy of a record in the journal": forge(t, journalFiles[1], 1),
	} {
		if o, err := Open(ctx, c, storetest.Key); err == nil {
			o.Close()
			t.Errorf("%s: opened", name)
		} else if !strings.Contains(err.Error(), "record") {
			t.Errorf("%s: error %q does not name the record", name, err)
		}
	}
	// Unforged, the same journal replays: two records were in, two come in.
	intact(t, mustOpen(t, crashCopy(t, path)), 4)
}

// TestJournalForgedLineIsRefused: a line appended to the journal by someone
// without the key (SHA-256 as the unkeyed chain had it, marked keyed or
// not, or under another key) stops the start-up, naming the record; so
// does opening a journal of keyed records with another key. Unforged, the
// same journal replays.
func TestJournalForgedLineIsRefused(t *testing.T) {
	ctx := context.Background()
	path, s := journalOnly(t, 3)
	s.db.j.mu.Lock()
	last := s.db.j.pending[2]
	s.db.j.mu.Unlock()
	other := audit.NewKey([]byte("not the master key's derivation!"))
	forge := func(t *testing.T, seal func(seq int64, prev string, e audit.Event) audit.Record) string {
		c := crashCopy(t, path)
		e := last.Event
		e.Event, e.Detail = "user.update", "forged"
		forged := seal(last.Seq+1, last.Hash, e)
		f, err := os.OpenFile(c+journalFiles[1], os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(appendLine(nil, &forged))
		f.Close()
		return c
	}
	sha256Keyed := func(seq int64, prev string, e audit.Event) audit.Record {
		r := audit.SealUnkeyed(seq, prev, e)
		r.Keyed = true
		return r
	}
	for name, tc := range map[string]struct {
		path, want string
		key        *audit.Key
	}{
		"SHA-256, marked keyed":           {forge(t, sha256Keyed), "record 4 does not match its MAC", storetest.Key},
		"SHA-256, unkeyed":                {forge(t, audit.SealUnkeyed), "record 4 is unkeyed", storetest.Key},
		"under another key":               {forge(t, other.Seal), "record 4 does not match its MAC", storetest.Key},
		"unforged, opened with other key": {crashCopy(t, path), "record 1 does not match its MAC", other},
	} {
		if o, err := Open(ctx, tc.path, tc.key); err == nil {
			o.Close()
			t.Errorf("%s: opened", name)
		} else if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not say %q", name, err, tc.want)
		}
	}
	intact(t, mustOpen(t, crashCopy(t, path)), 3)
}

// TestJournalUnkeyedLinesFromBefore: a journal of unkeyed lines left by a
// keyward from before keyed chaining replays onto a chain that holds no
// keyed record, and verifies, counted as unkeyed.
func TestJournalUnkeyedLinesFromBefore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keyward.db")
	var buf []byte
	prev := audit.GenesisHash
	for i := range 3 {
		r := audit.SealUnkeyed(int64(i+1), prev, jev(i))
		prev = r.Hash
		buf = appendLine(buf, &r)
	}
	if err := os.WriteFile(path+journalFiles[0], buf, 0o600); err != nil {
		t.Fatal(err)
	}
	s := mustOpen(t, path)
	if err := s.AppendAudit(ctx, jev(3)); err != nil {
		t.Fatal(err)
	}
	if c, err := s.VerifyAudit(ctx); err != nil || c.Broken != 0 || c.Records != 4 || c.Unkeyed != 3 {
		t.Fatalf("verify = %+v, %v; want 4 records, 3 unkeyed", c, err)
	}
}

// TestJournalIsEmptiedAfterIngest: once its records are in the table, a
// journal file is emptied, by the ingester as by the writes that carry
// their own records, and both are empty after Close; so the files do not
// grow with the audit table and start-up has nothing old to replay.
func TestJournalIsEmptiedAfterIngest(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keyward.db")
	s, err := Open(ctx, path, storetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	sizes := func() (n int64) {
		t.Helper()
		for _, suffix := range journalFiles {
			fi, err := os.Stat(path + suffix)
			if err != nil {
				t.Fatal(err)
			}
			n += fi.Size()
		}
		return n
	}
	for round := range 3 {
		for i := range 200 {
			if err := s.AppendAudit(ctx, jev(round*1000+i)); err != nil {
				t.Fatal(err)
			}
		}
		if sizes() == 0 {
			t.Fatal("appended records are not in the journal")
		}
		if err := s.db.ingest(ctx); err != nil { // what the ingester does every 25 ms
			t.Fatal(err)
		}
		if n := sizes(); n != 0 {
			t.Fatalf("round %d: %d bytes left in the journal after every record reached the table", round, n)
		}
	}
	for i := range 50 {
		if err := s.AppendAudit(ctx, jev(5000+i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := sizes(); n != 0 {
		t.Fatalf("%d bytes left in the journal after Close", n)
	}
	s, err = Open(ctx, path, storetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if c, err := s.VerifyAudit(ctx); err != nil || c.Broken != 0 || c.Records != 650 {
		t.Fatalf("verify after reopening: %+v %v", c, err)
	}
}
