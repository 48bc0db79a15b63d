package core

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/store/sqlite"
)

// kidOf returns the signing key id in a token's header.
func kidOf(t *testing.T, tok Token) string {
	t.Helper()
	p, err := crypto.ParseToken(tok.Value)
	if err != nil || p.KeyID == "" {
		t.Fatalf("token %q: %v", tok.Value, err)
	}
	return p.KeyID
}

// events returns the names of an account's audit records, oldest first.
func events(t *testing.T, c *Core, account string) []audit.Record {
	t.Helper()
	recs, _, err := c.st.ListAudit(context.Background(), account, 10000, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(recs)-1; i < j; i, j = i+1, j-1 {
		recs[i], recs[j] = recs[j], recs[i]
	}
	return recs
}

func countEvent(recs []audit.Record, name string) int {
	n := 0
	for _, r := range recs {
		if r.Event.Event == name {
			n++
		}
	}
	return n
}

// secondAccount bootstraps account beta and returns its admin's session.
func secondAccount(t *testing.T, c *Core) Session {
	t.Helper()
	ctx := context.Background()
	key, err := c.Bootstrap(ctx, Caller{RequestID: "init"}, "beta")
	if err != nil {
		t.Fatal(err)
	}
	s, err := authKey(ctx, c, "beta", key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSigningKeysPerAccount: each account signs with its own key, made and
// audited when the account is; a rotation changes only the rotating
// account's key, is audited there only, and tokens issued before verify.
func TestSigningKeysPerAccount(t *testing.T) {
	ctx := context.Background()
	c, acme, _ := testCore(t, nil)
	beta := secondAccount(t, c)
	for _, a := range []string{"acme", "beta"} {
		if n := countEvent(events(t, c, a), "signing_key.create"); n != 1 {
			t.Errorf("%s: %d signing_key.create records, want 1", a, n)
		}
	}
	issue := func(s Session) Token {
		t.Helper()
		tok, err := c.IssueToken(s, FormatNative)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	a1, b1 := issue(acme), issue(beta)
	if kidOf(t, a1) == kidOf(t, b1) {
		t.Fatalf("acme and beta sign with the same key %s", kidOf(t, a1))
	}
	acmeAudit := len(events(t, c, "acme"))
	if err := c.RotateSigningKey(ctx, acc(c, beta)); err != nil {
		t.Fatal(err)
	}
	if kidOf(t, issue(acme)) != kidOf(t, a1) {
		t.Error("a rotation in beta changed acme's signing key")
	}
	b2 := issue(beta)
	if kidOf(t, b2) == kidOf(t, b1) {
		t.Error("beta's rotation left its signing key")
	}
	if got := events(t, c, "acme"); len(got) != acmeAudit {
		t.Errorf("beta's rotation wrote %d records in acme's audit", len(got)-acmeAudit)
	}
	recs := events(t, c, "beta")
	last := recs[len(recs)-1]
	if last.Event.Event != "signing_key.rotate" || last.Actor != "beta:user:admin" || last.Detail != "kid "+kidOf(t, b2) {
		t.Errorf("beta's last audit record %+v, want its rotation", last.Event)
	}
	for _, tok := range []Token{a1, b1, b2} {
		if _, err := verifyToken(ctx, c, tok.Value); err != nil {
			t.Errorf("token issued before the rotation: %v", err)
		}
	}
	// JWKS lists both accounts' keys, beta's retired one too.
	var set struct{ Keys []struct{ Kid string } }
	if err := json.Unmarshal(c.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	kids := map[string]bool{}
	for _, k := range set.Keys {
		kids[k.Kid] = true
	}
	for _, tok := range []Token{a1, b1, b2} {
		if !kids[kidOf(t, tok)] {
			t.Errorf("JWKS %s lacks %s", c.JWKS(), kidOf(t, tok))
		}
	}
	if len(set.Keys) != 3 {
		t.Errorf("JWKS holds %d keys, want 3", len(set.Keys))
	}
}

// TestTokenOfAnotherAccountsKeyRefused: a token naming acme signed with
// beta's key (an account's admin can have its key; a bug could sign with
// it) is refused, while the same claims under acme's key verify.
func TestTokenOfAnotherAccountsKeyRefused(t *testing.T) {
	ctx := context.Background()
	c, acme, _ := testCore(t, nil)
	secondAccount(t, c)
	now := c.tokenService.now()
	claims, err := json.Marshal(Claims{Issuer: issuer, Subject: acme.Login, Account: "acme", PrincipalID: acme.PrincipalID,
		Kind: acme.Kind, Level: acme.Level, IssuedAt: now.Unix(), ExpiresAt: now.Add(time.Minute).Unix(), ID: crypto.NewID()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		signer string
		ok     bool
	}{{"acme", true}, {"beta", false}} {
		k, found := c.tokens.signer(tc.signer)
		if !found {
			t.Fatalf("no signing key for %s", tc.signer)
		}
		for _, sign := range []func([]byte) (string, error){k.Sign, k.SignConjur} {
			tok, err := sign(claims)
			if err != nil {
				t.Fatal(err)
			}
			_, err = verifyToken(ctx, c, tok)
			if tc.ok && err != nil {
				t.Errorf("acme's token signed with acme's key: %v", err)
			}
			if !tc.ok && AsError(err).Reason != "unknown_signing_key" {
				t.Errorf("acme's token signed with %s's key: %v, want unknown_signing_key", tc.signer, err)
			}
		}
	}
}

// TestSigningKeyPruned: a key retired longer than a token lifetime is
// deleted from the store at the account's next rotation, audited there.
func TestSigningKeyPruned(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	c, acme, _ := testCore(t, clk.now)
	beta := secondAccount(t, c)
	first, _ := c.IssueToken(acme, FormatNative)
	if err := c.RotateSigningKey(ctx, acc(c, acme)); err != nil {
		t.Fatal(err)
	}
	if err := c.RotateSigningKey(ctx, acc(c, beta)); err != nil {
		t.Fatal(err)
	}
	stored := func() map[string]bool {
		ks, err := c.st.ListSigningKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, k := range ks {
			m[k.ID] = true
		}
		return m
	}
	if len(stored()) != 4 {
		t.Fatalf("%d keys stored, want 4", len(stored()))
	}
	clk.advance(c.tokenTTL + signingKeyGrace + time.Second)
	if _, err := verifyToken(ctx, c, first.Value); err == nil {
		t.Error("a token outlived its retired key")
	}
	if err := c.RotateSigningKey(ctx, acc(c, acme)); err != nil {
		t.Fatal(err)
	}
	if ks := stored(); ks[kidOf(t, first)] || len(ks) != 4 {
		t.Errorf("after acme's rotation: %v; want acme's first key gone, beta's retired key kept until beta rotates or a restart", ks)
	}
	recs := events(t, c, "acme")
	if n := countEvent(recs, "signing_key.delete"); n != 1 {
		t.Errorf("%d signing_key.delete records in acme, want 1", n)
	}
	if n := countEvent(events(t, c, "beta"), "signing_key.delete"); n != 0 {
		t.Errorf("acme's prune wrote %d records in beta", n)
	}
}

// TestLegacySigningKeyUpgrade: a store from before keys were per account
// holds one key of no account. At start-up it is retired (still verifying
// the tokens it signed, for any account, until a token lifetime passes),
// each account gets its own key, audited, and once expired the old key is
// deleted at the next start.
func TestLegacySigningKeyUpgrade(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "keyward.db")
	mk := make([]byte, crypto.MasterKeySize)
	_, _ = rand.Read(mk)
	sealer, err := crypto.NewSealer(mk)
	if err != nil {
		t.Fatal(err)
	}
	var c *Core
	stop := func() {}
	start := func() {
		t.Helper()
		st, err := sqlite.Open(ctx, path, audit.NewKey([]byte("core test audit chain key")))
		if err != nil {
			t.Fatal(err)
		}
		cc, err := New(ctx, Deps{Store: st, Sealer: sealer, Now: clk.now, BcryptWorkers: 1})
		if err != nil {
			st.Close()
			t.Fatal(err)
		}
		c, stop = cc, func() { cc.Close(); st.Close() }
	}
	t.Cleanup(func() { stop() })
	start()
	key, err := c.Bootstrap(ctx, Caller{RequestID: "init"}, "acme")
	if err != nil {
		t.Fatal(err)
	}
	acme, err := authKey(ctx, c, "acme", key)
	if err != nil {
		t.Fatal(err)
	}
	beta := secondAccount(t, c)
	// Make the store what migration 0003 leaves of an older one: one key,
	// of no account, signing for both.
	legacy, _ := c.IssueToken(acme, FormatNative)
	old := kidOf(t, legacy)
	stop()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("DELETE FROM signing_keys WHERE account <> 'acme'"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE signing_keys SET account = ''"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	start()
	// Keep a token of beta signed with the old key too, as the old code did.
	oldKey := c.tokens.verify[old].key
	now := c.tokenService.now()
	claims := Claims{Issuer: issuer, Subject: beta.Login, Account: "beta", PrincipalID: beta.PrincipalID, Kind: beta.Kind,
		Level: beta.Level, IssuedAt: now.Unix(), ExpiresAt: now.Add(c.tokenTTL).Unix(), ID: crypto.NewID()}
	payload, _ := json.Marshal(claims)
	legacyBeta, err := oldKey.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"acme": legacy.Value, "beta": legacyBeta} {
		if _, err := verifyToken(ctx, c, tok); err != nil {
			t.Errorf("%s's token of the old key after the upgrade: %v", name, err)
		}
	}
	for _, s := range []Session{acme, beta} {
		tok, err := c.IssueToken(s, FormatNative)
		if err != nil {
			t.Fatal(err)
		}
		if kidOf(t, tok) == old {
			t.Errorf("%s still signs with the key of no account", s.Account)
		}
	}
	all := events(t, c, "")
	if countEvent(all, "signing_key.retire") != 1 {
		t.Error("retiring the old key was not audited")
	}
	for _, a := range []string{"acme", "beta"} {
		if n := countEvent(events(t, c, a), "signing_key.create"); n != 2 {
			t.Errorf("%s: %d signing_key.create records, want 2 (bootstrap, upgrade)", a, n)
		}
	}
	// A token lifetime later the old key verifies nothing and a restart
	// deletes it.
	clk.advance(c.tokenTTL + signingKeyGrace + time.Second)
	stop()
	start()
	ks, err := c.st.ListSigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		if k.ID == old || k.Account == "" {
			t.Errorf("expired key %s of account %q kept", k.ID, k.Account)
		}
	}
	if len(ks) != 2 {
		t.Errorf("%d keys after the prune, want 2", len(ks))
	}
	if countEvent(events(t, c, ""), "signing_key.delete") != 1 {
		t.Error("pruning the old key was not audited")
	}
}
