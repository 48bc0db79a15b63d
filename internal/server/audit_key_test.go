package server_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/crypto"
)

// runEnv runs a keyward command to its end with extra environment.
func runEnv(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, keywardBin, args...)
	cmd.Env = append(cleanEnv(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); !ok || ctx.Err() != nil {
			t.Fatalf("keyward %v: %v (%s)", args, err, e.String())
		}
	}
	return o.String(), e.String(), cmd.ProcessState.ExitCode()
}

// openDB opens a stopped keyward's database as anyone with write access to
// the folder could.
func openDB(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

const dbFile = "keyward.db"

// records reads every audit record of the folder's table, in order.
func records(t *testing.T, db *sql.DB) []audit.Record {
	t.Helper()
	rows, err := db.Query(`SELECT seq, time_us, account, event, outcome, reason, actor, subject, key_id, client_ip, peer_ip,
		request_id, authenticator, detail, hash, keyed FROM audit_log ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []audit.Record
	for rows.Next() {
		var r audit.Record
		var us int64
		if err := rows.Scan(&r.Seq, &us, &r.Account, &r.Event.Event, &r.Outcome, &r.Reason, &r.Actor, &r.Subject, &r.KeyID,
			&r.ClientIP, &r.PeerIP, &r.RequestID, &r.Authenticator, &r.Detail, &r.Hash, &r.Keyed); err != nil {
			t.Fatal(err)
		}
		if len(out) > 0 {
			r.PrevHash = out[len(out)-1].Hash
		} else {
			r.PrevHash = audit.GenesisHash
		}
		r.Time = time.UnixMicro(us).UTC()
		out = append(out, r)
	}
	return out
}

// rechain rewrites the detail of record from (unless detail is "") and
// chains it and every later record again with plain SHA-256, the unkeyed
// chain, as anyone without the master key can; keyed is what they are then
// marked. The head follows.
func rechain(t *testing.T, dir string, from int64, detail string, keyed bool) {
	t.Helper()
	db := openDB(t, dir)
	recs := records(t, db)
	prev := audit.GenesisHash
	for i := range recs {
		r := &recs[i]
		if r.Seq < from {
			prev = r.Hash
			continue
		}
		if r.Seq == from && detail != "" {
			r.Detail = detail
		}
		r.PrevHash, r.Hash = prev, audit.UnkeyedChain(r.Seq, prev, &r.Event)
		prev = r.Hash
		if _, err := db.Exec("UPDATE audit_events SET detail = ?, hash = unhex(?), keyed = ? WHERE seq = ?",
			r.Detail, r.Hash, keyed, r.Seq); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", recs[len(recs)-1].Seq, prev); err != nil {
		t.Fatal(err)
	}
}

// legacyGenesis gives the folder's chain the genesis checkpoint of a chain
// upgraded with unkeyed records at its start (signed unkeyed under the
// folder's master key), as migration 0006 leaves it.
func legacyGenesis(t *testing.T, dir string) {
	t.Helper()
	mk, err := os.ReadFile(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := crypto.NewSealer(mk)
	if err != nil {
		t.Fatal(err)
	}
	cp := audit.NewKey(sealer.AuditChainKey()).GenesisCheckpoint(false)
	if _, err := openDB(t, dir).Exec("UPDATE audit_checkpoint SET keyed = 0, mac = ? WHERE id = 1", cp.MAC); err != nil {
		t.Fatal(err)
	}
}

func wantVerify(t *testing.T, dir string, env []string, code int, says string) string {
	t.Helper()
	out, errOut, got := runEnv(t, env, "audit", "verify", "--data", dir)
	if got != code || !strings.Contains(out+errOut, says) {
		t.Fatalf("audit verify exited %d: %s %s; want %d, saying %q", got, out, errOut, code, says)
	}
	if code != 0 && strings.Contains(out+errOut, "intact") {
		t.Fatalf("a failed audit verify says intact: %s %s", out, errOut)
	}
	return out
}

// TestAuditVerifyCatchesRechainedTable: a record rewritten and the chain
// recomputed with SQL (the unkeyed chain's SHA-256, marked keyed or not)
// makes audit verify exit non-zero, and so does a wrong master key; the
// untouched chain is intact under the right one, given by file or by
// KEYWARD_MASTER_KEY.
func TestAuditVerifyCatchesRechainedTable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	admin := initData(t, dir).APIKey
	p := serve(t, dir)
	if st, _ := p.do("POST", "/api/v1/users", admin, map[string]any{"login": "alice", "kind": "user"}); st != 201 {
		t.Fatalf("create user: %d", st)
	}
	p.do("POST", "/api/v1/api-keys/verify", "", map[string]any{"key": "kw_nope"})
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.done
	mk, err := os.ReadFile(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	n := len(records(t, openDB(t, dir)))
	wantVerify(t, dir, nil, 0, "audit chain intact: "+strconv.Itoa(n)+" records, all keyed")
	wantVerify(t, dir, []string{"KEYWARD_MASTER_KEY=" + hex.EncodeToString(mk)}, 0, "intact")
	wrong := bytes.Repeat([]byte{7}, 32)
	wantVerify(t, dir, []string{"KEYWARD_MASTER_KEY=" + hex.EncodeToString(wrong)}, 1, "BROKEN at record 1")

	// Copies of the folder, each tampered with differently.
	cp := func() string {
		c := t.TempDir()
		for _, f := range []string{"master.key", "keyward.db", "keyward.db-wal", "keyward.db-audit1", "keyward.db-audit2"} {
			if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
				os.WriteFile(filepath.Join(c, f), b, 0o600)
			}
		}
		return c
	}
	c := cp()
	rechain(t, c, 2, "forged", true)
	wantVerify(t, c, nil, 1, "BROKEN at record 2")
	c = cp()
	rechain(t, c, 2, "forged", false)
	wantVerify(t, c, nil, 1, "BROKEN at record 2")
	// Every record made to look as if from before keyed chaining: the
	// chain started keyed (its genesis checkpoint is signed so), so it
	// breaks at record 1; under the genesis of a chain upgraded with
	// unkeyed records the chain of SHA-256 holds, but verify does not call
	// it intact.
	c = cp()
	rechain(t, c, 1, "forged", false)
	wantVerify(t, c, nil, 1, "BROKEN at record 1")
	legacyGenesis(t, c)
	wantVerify(t, c, nil, 1, fmt.Sprintf("records 1-%d are unkeyed", n))
	// rekey does not bless a broken chain.
	c = cp()
	rechain(t, c, 2, "forged", true)
	if out, errOut, code := runEnv(t, nil, "audit", "rekey", "--data", c); code == 0 || !strings.Contains(errOut, "record 2") {
		t.Fatalf("rekey of a broken chain exited %d: %s %s", code, out, errOut)
	}
	wantVerify(t, c, nil, 1, "BROKEN at record 2")
}

// TestForgedJournalLine: a line appended to the audit journal by someone
// without the master key stops serve from starting, and audit verify
// fails; the files are kept.
func TestForgedJournalLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	initData(t, dir)
	recs := records(t, openDB(t, dir))
	last := recs[len(recs)-1]
	e := last.Event
	e.Event, e.Detail, e.Subject = "user.update", "password changed", "acme:user:admin"
	for name, forged := range map[string]audit.Record{
		"keyed": func() audit.Record {
			r := audit.SealUnkeyed(last.Seq+1, last.Hash, e)
			r.Keyed = true
			return r
		}(),
		"unkeyed": audit.SealUnkeyed(last.Seq+1, last.Hash, e),
	} {
		t.Run(name, func(t *testing.T) {
			c := t.TempDir()
			for _, f := range []string{"master.key", "keyward.db", "keyward.db-wal"} {
				if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
					os.WriteFile(filepath.Join(c, f), b, 0o600)
				}
			}
			version := "a1"
			if forged.Keyed {
				version = "a2"
			}
			line := fmt.Sprintf("%s\t%d\t%s\t%s\t%d", version, forged.Seq, forged.PrevHash, forged.Hash, forged.Time.UnixMicro())
			for _, s := range []string{forged.Account, forged.Event.Event, forged.Outcome, forged.Reason, forged.Actor, forged.Subject,
				forged.KeyID, forged.ClientIP, forged.PeerIP, forged.RequestID, forged.Authenticator, forged.Detail} {
				line += "\t" + strconv.Quote(s)
			}
			if err := os.WriteFile(filepath.Join(c, "keyward.db-audit1"), []byte(line+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			out, errOut, code := runEnv(t, nil, "serve", "--data", c, "--listen", "127.0.0.1:0")
			if code == 0 || !strings.Contains(errOut, fmt.Sprintf("record %d", forged.Seq)) || !strings.Contains(errOut, "kept") {
				t.Fatalf("serve over a forged journal exited %d: %s %s", code, out, errOut)
			}
			wantVerify(t, c, nil, 1, fmt.Sprintf("record %d", forged.Seq))
			if b, _ := os.ReadFile(filepath.Join(c, "keyward.db-audit1")); string(b) != line+"\n" {
				t.Fatal("the forged journal was not kept")
			}
		})
	}
}

// TestAuditRekey: a chain from before keyed chaining (every record
// unkeyed, as the migration leaves it) verifies as before but is reported
// unkeyed, non-zero; keyward audit rekey keys it, recorded in the chain,
// and then it is intact, and stays so across a serve.
func TestAuditRekey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	admin := initData(t, dir).APIKey
	legacyGenesis(t, dir)
	rechain(t, dir, 1, "", false)
	n := len(records(t, openDB(t, dir)))
	wantVerify(t, dir, nil, 1, fmt.Sprintf("%d records; records 1-%d are unkeyed", n, n))
	// A serve adds keyed records after the unkeyed ones.
	p := serve(t, dir)
	p.do("POST", "/api/v1/users", admin, map[string]any{"login": "bob", "kind": "user"})
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
	m := len(records(t, openDB(t, dir)))
	wantVerify(t, dir, nil, 1, fmt.Sprintf("records 1-%d are unkeyed", n))
	out, errOut, code := runEnv(t, nil, "audit", "rekey", "--data", dir, "--account", "acme")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%d records chained again under the master key (%d were unkeyed)", m, n)) {
		t.Fatalf("rekey exited %d: %s %s", code, out, errOut)
	}
	recs := records(t, openDB(t, dir))
	if last := recs[len(recs)-1]; last.Event.Event != "audit.rekey" || last.Account != "acme" || !last.Keyed ||
		!strings.Contains(last.Detail, fmt.Sprintf("%d of them were unkeyed", n)) {
		t.Fatalf("last record after rekey: %+v", last)
	}
	wantVerify(t, dir, nil, 0, fmt.Sprintf("audit chain intact: %d records, all keyed", m+1))
	p = serve(t, dir)
	p.do("POST", "/api/v1/users", admin, map[string]any{"login": "carol", "kind": "user"})
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
	wantVerify(t, dir, nil, 0, "all keyed")
}
