package native_test

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/server"
)

// kid returns the signing key id in an access token's header.
func kid(t *testing.T, token string) string {
	t.Helper()
	hdr, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(hdr)
	if err != nil {
		t.Fatalf("token header: %v", err)
	}
	var h struct{ Kid string }
	if err := json.Unmarshal(raw, &h); err != nil || h.Kid == "" {
		t.Fatalf("token header %s", raw)
	}
	return h.Kid
}

// jwksKids returns the kids the JWKS lists, each once, failing on a repeat.
func (e *env) jwksKids() map[string]bool {
	e.t.Helper()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	r := e.do("GET", "/.well-known/jwks.json", "", nil).want(200)
	if err := json.Unmarshal(r.body, &set); err != nil {
		e.t.Fatalf("jwks: %v: %s", err, r.body)
	}
	kids := map[string]bool{}
	for _, k := range set.Keys {
		if kids[k.Kid] {
			e.t.Fatalf("JWKS lists kid %s twice: %s", k.Kid, r.body)
		}
		kids[k.Kid] = true
	}
	return kids
}

// otherAccount makes a second account and returns its admin's API key and token.
func (e *env) otherAccount(name string) (key, token string) {
	e.t.Helper()
	key, err := e.s.Init(context.Background(), name)
	if err != nil {
		e.t.Fatalf("init %s: %v", name, err)
	}
	return key, e.keyToken(key)
}

// TestSigningKeyRotationStaysInItsAccount: finding 7 of issue 17. A holder of
// signing-keys-manage in account other rotates only other's key (204),
// audited in other only; acme's next token keeps its kid, tokens issued
// before keep working, and JWKS lists every account's keys.
func TestSigningKeyRotationStaysInItsAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, otherAdmin := e.otherAccount("other")
	// In other: a user whose only permission is signing-keys-manage.
	role := e.do("POST", "/api/v1/roles", otherAdmin, map[string]any{"name": "keys", "permissions": []string{"signing-keys-manage"}}).want(201).str("id")
	r := e.do("POST", "/api/v1/users", otherAdmin, map[string]any{"login": "rot", "kind": "user"}).want(201)
	rotID, rotKey := r.str("id"), r.str("api_key")
	e.do("PUT", "/api/v1/users/"+rotID+"/roles", otherAdmin, map[string]any{"roles": []map[string]any{{"id": role, "type": "PERMANENT"}}}).want(200)
	rot := e.keyToken(rotKey)

	acme1, other1 := kid(t, e.admin), kid(t, otherAdmin)
	if acme1 == other1 {
		t.Fatalf("acme and other sign with the same key %s", acme1)
	}
	if kids := e.jwksKids(); !kids[acme1] || !kids[other1] || len(kids) != 2 {
		t.Fatalf("JWKS before the rotation: %v", kids)
	}
	acmeAudit := e.auditTotal()

	e.do("POST", "/api/v1/signing-keys/rotate", rot, nil).want(204)

	if got := kid(t, e.keyToken(e.adminKey)); got != acme1 {
		t.Errorf("a rotation in other changed acme's signing key: %s, was %s", got, acme1)
	}
	other2 := kid(t, e.keyToken(rotKey))
	if other2 == other1 {
		t.Error("other's rotation left its signing key")
	}
	// Tokens issued before verify, in both accounts.
	e.do("GET", "/api/v1/users", e.admin, nil).want(200)
	e.do("GET", "/api/v1/users", otherAdmin, nil).want(200)
	if kids := e.jwksKids(); !kids[acme1] || !kids[other1] || !kids[other2] || len(kids) != 3 {
		t.Errorf("JWKS after the rotation: %v; want acme's key and other's current and retired ones", kids)
	}
	// Audited in other, by the rotating user, and nowhere in acme.
	if n := e.auditTotal(); n != acmeAudit+1 { // +1: acme's token exchange above
		t.Errorf("acme's audit grew by %d records, want 1 (its own token)", n-acmeAudit)
	}
	if rec := e.findAudit(map[string]string{"event": "signing_key.rotate"}); rec != nil {
		t.Errorf("acme's audit holds other's rotation: %v", rec)
	}
	var found bool
	for _, rec := range e.do("GET", "/api/v1/audit?limit=100", otherAdmin, nil).want(200).items() {
		if rec["event"] == "signing_key.rotate" {
			found = true
			if rec["actor"] != "other:user:rot" || rec["account"] != "other" || rec["detail"] != "kid "+other2 {
				t.Errorf("rotation record %v", rec)
			}
		}
	}
	if !found {
		t.Error("other's audit lacks its rotation")
	}
}

// TestSigningKeyCreationAudited: an account's first signing key is audited
// in that account when the account is made.
func TestSigningKeyCreationAudited(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := e.findAudit(map[string]string{"event": "signing_key.create"})
	if rec == nil || rec["account"] != account || rec["detail"] != "kid "+kid(t, e.admin) {
		t.Errorf("acme's first signing key: record %v, token kid %s", rec, kid(t, e.admin))
	}
	_, other := e.otherAccount("other")
	var n int
	for _, rec := range e.do("GET", "/api/v1/audit?limit=100", other, nil).want(200).items() {
		if rec["event"] == "signing_key.create" {
			n++
			if rec["detail"] != "kid "+kid(t, other) {
				t.Errorf("other's first signing key: record %v, token kid %s", rec, kid(t, other))
			}
		}
	}
	if n != 1 {
		t.Errorf("other's audit has %d signing_key.create records, want 1", n)
	}
}

// TestTokenSignedWithAnotherAccountsKeyRefused: a token naming acme's admin
// signed with account other's key (forged here with keyward's own sealing
// and signing, reading the key from the data folder) gets 401; the same
// claims signed with acme's key are accepted, so the forgery itself is sound.
func TestTokenSignedWithAnotherAccountsKeyRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, other := e.otherAccount("other")
	mk, err := os.ReadFile(filepath.Join(e.dir, server.MasterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := crypto.NewSealer(mk)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(e.dir, server.DBFile)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	signer := func(kid string) crypto.SigningKey {
		t.Helper()
		var sealed []byte
		if err := db.QueryRow("SELECT private FROM signing_keys WHERE id = ?", kid).Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		k, err := crypto.OpenSigningKey(sealer, kid, sealed)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	claims, _ := json.Marshal(map[string]any{"iss": "keyward", "sub": "admin", "account": account, "pid": e.adminID,
		"kind": "user", "lvl": 1, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": crypto.NewID()})
	for _, tc := range []struct {
		name   string
		key    crypto.SigningKey
		status int
	}{
		{"acme's key", signer(kid(t, e.admin)), 200},
		{"other's key", signer(kid(t, other)), 401},
	} {
		tok, err := tc.key.Sign(claims)
		if err != nil {
			t.Fatal(err)
		}
		if tc.status == 200 {
			e.do("GET", "/api/v1/users", tok, nil).want(200)
		} else {
			e.do("GET", "/api/v1/users", tok, nil).errBody(tc.status)
		}
		conjur, err := tc.key.SignConjur(claims)
		if err != nil {
			t.Fatal(err)
		}
		r := e.do("GET", "/api/v1/users", "", nil, "Authorization", `Token token="`+base64.StdEncoding.EncodeToString([]byte(conjur))+`"`)
		if r.status != tc.status {
			t.Errorf("%s, Conjur rendering: status %d, want %d: %s", tc.name, r.status, tc.status, r.body)
		}
	}
	if rec := e.findAudit(map[string]string{"reason": "unknown_signing_key"}); rec == nil {
		t.Error("the refused token left no audit record naming the reason")
	}
}
