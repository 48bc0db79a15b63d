package argus_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/keyward/keyward/internal/server"
	"github.com/keyward/keyward/pkg/argussig"
)

// sigObj is an Argus signature key object.
type sigObj struct {
	ID                string  `json:"id"`
	KeyID             string  `json:"keyId"`
	User              userRef `json:"user"`
	Algorithm         string  `json:"algorithm"`
	Fingerprint       string  `json:"fingerprint"`
	Description       string  `json:"description"`
	CreatedTimestamp  int64   `json:"createdTimestamp"`
	LastUsedTimestamp *int64  `json:"lastUsedTimestamp"`
}

func (e *env) enrol(tok, login, publicKey string) sigObj {
	e.t.Helper()
	var s sigObj
	e.call("POST", "/authentication/v1/user/"+login+"/signature", map[string]any{"publicKey": publicKey, "description": "ci signer"}, bearer(tok)).
		want(200).data(&s)
	return s
}

func sshLine(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	pk, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))) + " ci@example"
}

func TestSignatureKeys(t *testing.T) {
	e := newEnv(t)
	u := e.newUser("alice", "", true)
	tok := e.session(u)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ed := e.enrol(tok, "alice", pemOf(t, edPub))
	der, _ := x509.MarshalPKIXPublicKey(edPub)
	sum := sha256.Sum256(der)
	switch {
	case ed.ID == "" || ed.KeyID != u.id+"/"+ed.ID || ed.User != (userRef{ID: u.id, UserName: "alice"}):
		t.Fatalf("ids %+v", ed)
	case ed.Algorithm != "ed25519" || ed.Fingerprint != "SHA256:"+base64.RawStdEncoding.EncodeToString(sum[:]) || ed.Description != "ci signer":
		t.Fatalf("fields %+v", ed)
	case ed.CreatedTimestamp != e.clock.Now().UnixMilli() || ed.LastUsedTimestamp != nil:
		t.Fatalf("times %+v", ed)
	}
	if rec := e.findAudit("signature_key.create"); rec.Outcome != "success" || rec.KeyID != ed.ID || rec.Subject != account+":user:alice" {
		t.Fatalf("signature_key.create recorded %+v", rec)
	}
	if s := e.enrol(tok, "alice", sshLine(t, &ec.PublicKey)); s.Algorithm != "ecdsa-p256-sha256" {
		t.Fatalf("ecdsa: %+v", s)
	}
	if s := e.enrol(tok, "alice", pemOf(t, &rk.PublicKey)); s.Algorithm != "rsa-pss-sha256" {
		t.Fatalf("rsa: %+v", s)
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for name, pk := range map[string]string{
		"RSA 1024":         pemOf(t, &small.PublicKey),
		"RSA 1024 ssh":     sshLine(t, &small.PublicKey),
		"P-384":            pemOf(t, &p384.PublicKey),
		"not a key":        "hello",
		"already enrolled": sshLine(t, edPub),
	} {
		ms := e.call("POST", "/authentication/v1/user/alice/signature", map[string]any{"publicKey": pk}, bearer(tok)).fieldErrors("publicKey")
		if ms[0].Message == "" {
			t.Fatalf("%s: no message", name)
		}
	}
	e.call("POST", "/authentication/v1/user/alice/signature", map[string]any{"publicKey": pemOf(t, &p384.PublicKey), "x": 1}, bearer(tok)).
		fieldErrors("x")
	var list []sigObj
	env := e.call("GET", "/authentication/v1/user/alice/signature", nil, bearer(tok)).want(200).data(&list)
	listed := false
	for _, s := range list {
		listed = listed || s == ed
	}
	if env.Count != 3 || len(list) != 3 || !listed {
		t.Fatalf("list %+v", list)
	}
	// Idempotent enrolment.
	var a, b sigObj
	key2, _, _ := ed25519.GenerateKey(rand.Reader)
	body := `{"publicKey":` + jsonString(pemOf(t, key2)) + `}`
	e.call("POST", "/authentication/v1/user/alice/signature", body, bearer(tok), header("Idempotency-Key", "enrol-1")).want(200).data(&a)
	e.call("POST", "/authentication/v1/user/alice/signature", body, bearer(tok), header("Idempotency-Key", "enrol-1")).want(200).data(&b)
	if a.ID == "" || a.ID != b.ID {
		t.Fatalf("repeated enrolment %s %s", a.ID, b.ID)
	}
	// Delete: 200 with the object, then gone.
	var del sigObj
	e.call("DELETE", "/authentication/v1/user/alice/signature/"+ed.ID, nil, bearer(tok)).want(200).data(&del)
	if del.ID != ed.ID {
		t.Fatalf("deleted %+v", del)
	}
	if rec := e.findAudit("signature_key.delete"); rec.Outcome != "success" || rec.KeyID != ed.ID {
		t.Fatalf("signature_key.delete recorded %+v", rec)
	}
	e.call("DELETE", "/authentication/v1/user/alice/signature/"+ed.ID, nil, bearer(tok)).fails(404, "object.notfound")
}

func jsonString(s string) string {
	b := []byte{'"'}
	for _, r := range s {
		switch r {
		case '\n':
			b = append(b, '\\', 'n')
		case '"', '\\':
			b = append(b, '\\', byte(r))
		default:
			b = append(b, string(r)...)
		}
	}
	return string(append(b, '"'))
}

// signedEnv is a user with an enrolled Ed25519 key and its signer.
func signedEnv(t *testing.T, cfg server.Config) (*env, user, *signer, sigObj) {
	e := newEnvWith(t, cfg)
	u := e.newUser("alice", "", true)
	tok := e.session(u)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	s := e.enrol(tok, "alice", pemOf(t, pub))
	return e, u, e.signer(s.KeyID, priv), s
}

// TestSignedRequests: a signed request is a level-3 session of the key's
// user; each refusal is its own 401 and its own audit reason.
func TestSignedRequests(t *testing.T) { signedRequests(t, server.Config{}) }

func signedRequests(t *testing.T, cfg server.Config) {
	e, u, sg, sk := signedEnv(t, cfg)
	path := "/authentication/v1/user/alice/apikey"
	sg.signed("GET", path, "").want(200)
	if rec := e.lastAudit(1)[0]; rec.Event != "authn" || rec.Outcome != "success" || rec.Authenticator != "signature" || rec.KeyID != sk.ID {
		t.Fatalf("signed request recorded %+v", rec)
	}
	var listed []sigObj
	e.call("GET", "/authentication/v1/user/alice/signature", nil, bearer(e.session(u))).want(200).data(&listed)
	if len(listed) != 1 || listed[0].LastUsedTimestamp == nil || *listed[0].LastUsedTimestamp != e.clock.Now().Add(-31*time.Second).UnixMilli() {
		t.Fatalf("last use of the signature key not recorded: %+v", listed)
	}
	// Level 3: it may create a key, with a body and a query.
	var k keyObj
	sg.signed("POST", path+"?source=ci", `{"description":"signed"}`).want(200).data(&k)
	if k.Description != "signed" || k.User.ID != u.id {
		t.Fatalf("signed create %+v", k)
	}
	// Other signature algorithms verify too.
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	tok := e.session(u)
	for _, key := range []crypto.Signer{ec, rk} {
		s := e.enrol(tok, "alice", sshOrPEM(t, key.Public()))
		e.signer(s.KeyID, key).signed("GET", path, "").want(200)
	}

	refused := func(what string, r *resp, template, reason string) {
		t.Helper()
		r.fails(401, template)
		rec := e.lastAudit(1)[0]
		if rec.Event != "authn" || rec.Outcome != "failure" || rec.Reason != reason || rec.Authenticator != "signature" {
			t.Fatalf("%s: recorded %+v, want reason %s", what, rec, reason)
		}
		if reason != "signature_invalid" || strings.Contains(what, "changed") && what != "changed key" {
			if rec.KeyID != sk.ID {
				t.Fatalf("%s: key_id %q, want %q", what, rec.KeyID, sk.ID)
			}
		}
	}
	// Changed body, path, query or ts after signing.
	tamper := func(what, method, p, body string, change func(h *argussig.Header, p, body *string)) {
		t.Helper()
		req := sg.request(method, p, body)
		if err := sg.SignRequest(req); err != nil {
			t.Fatal(err)
		}
		h, _ := argussig.ParseHeader(req.Header.Get("Argus-Signature"))
		np, nb := p, body
		change(&h, &np, &nb)
		r2 := sg.request(method, np, nb)
		r2.Header.Set("Argus-Signature", h.String())
		refused(what, e.send(r2), "authentication.signature.invalid", "signature_invalid")
	}
	tamper("changed body", "POST", path, `{"description":"a"}`, func(_ *argussig.Header, _, b *string) { *b = `{"description":"b"}` })
	tamper("changed path", "GET", path, "", func(_ *argussig.Header, p, _ *string) { *p = "/authentication/v1/user/" + u.id + "/apikey" })
	tamper("changed query", "GET", path+"?limit=5", "", func(_ *argussig.Header, p, _ *string) { *p = path + "?limit=6" })
	tamper("changed ts", "GET", path, "", func(h *argussig.Header, _, _ *string) { h.TS++ })
	tamper("changed alg", "GET", path, "", func(h *argussig.Header, _, _ *string) { h.Alg = "rsa-pss-sha256" })
	tamper("changed key", "GET", path, "", func(h *argussig.Header, _, _ *string) { h.KeyID = u.id + "/zzzzzzzzzzzzzzzz" })

	// ts 400 s off either way: outside the window.
	now := e.clock.Now().UnixMilli()
	for _, off := range []int64{-400_000, 400_000} {
		req := sg.request("GET", path, "")
		h, err := sg.SignAt(argussig.Request{Method: "GET", Path: path}, now+off, "window-nonce-"+strings.Repeat("x", 8)+itoa(int(off/1000+1000)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Argus-Signature", h)
		refused("ts off by "+itoa(int(off)), e.send(req), "authentication.signature.timestamp", "signature_timestamp")
	}

	// Replay: the same header twice.
	req := sg.request("GET", path, "")
	if err := sg.SignRequest(req); err != nil {
		t.Fatal(err)
	}
	replayed := req.Header.Get("Argus-Signature")
	e.send(req).want(200)
	again := func() *resp {
		r := sg.request("GET", path, "")
		r.Header.Set("Argus-Signature", replayed)
		return e.send(r)
	}
	refused("replay", again(), "authentication.signature.replay", "signature_replay")

	// A clock set back 120 s: refused until the sessions are evicted.
	tok = e.session(u) // (a code of a step already used would be refused after the clock goes back)
	e.clock.Add(-120 * time.Second)
	refused("clock set back", sg.signed("GET", path, ""), "authentication.signature.clockskew", "signature_clock_skew")
	refused("clock still back", sg.signed("GET", path, ""), "authentication.signature.clockskew", "signature_clock_skew")
	e.call("DELETE", "/authentication/v1/user/signature/session", nil, bearer(tok)).want(200)
	if rec := e.findAudit("signature.session.evict"); rec.Outcome != "success" || rec.Actor != account+":user:alice" {
		t.Fatalf("eviction recorded %+v", rec)
	}
	sg.signed("GET", path, "").want(200)
	// Eviction never reopens a replay (the replayed request is 120 s ahead now, still in the window).
	refused("replay after eviction", again(), "authentication.signature.replay", "signature_replay")

	// A deleted key is refused at once.
	e.call("DELETE", "/authentication/v1/user/alice/signature/"+sk.ID, nil, bearer(tok)).want(200)
	r := sg.signed("GET", path, "")
	r.fails(401, "authentication.signature.invalid")
	if rec := e.lastAudit(1)[0]; rec.Reason != "signature_invalid" {
		t.Fatalf("deleted key recorded %+v", rec)
	}
}

func sshOrPEM(t *testing.T, pub crypto.PublicKey) string {
	if _, ok := pub.(*rsa.PublicKey); ok {
		return pemOf(t, pub)
	}
	return sshLine(t, pub)
}

// TestSignedSessionEviction: eviction takes any credential of the caller,
// answers data null, and forgets the caller's sessions only.
func TestSignedSessionEviction(t *testing.T) {
	e, u, sg, _ := signedEnv(t, server.Config{})
	path := "/authentication/v1/user/alice/apikey"
	k := e.createKey(e.session(u), "alice", nil)
	sg.signed("GET", path, "").want(200)
	e.clock.Add(-60 * time.Second)
	sg.signed("GET", path, "").fails(401, "authentication.signature.clockskew")
	// Another user's eviction does not help alice.
	bob := e.newUser("bob", "", false)
	e.call("DELETE", "/authentication/v1/user/signature/session", nil, bearer(e.session(bob))).want(200)
	sg.signed("GET", path, "").fails(401, "authentication.signature.clockskew")
	e.call("DELETE", "/authentication/v1/user/signature/session", nil).fails(401, "authentication.required")
	// Alice's API key may evict (any credential of the caller).
	var data any = "not null"
	e.call("DELETE", "/authentication/v1/user/signature/session", nil, apiKey(k.APIKey)).want(200).data(&data)
	if data != nil {
		t.Fatalf("data %v, want null", data)
	}
	sg.signed("GET", path, "").want(200)
	// A session is forgotten 300 s after its last accepted request.
	sg.signed("GET", path, "").want(200)
	e.clock.Add(301 * time.Second)
	tsBack := e.clock.Now().Add(-100 * time.Second).UnixMilli()
	h, _ := sg.SignAt(argussig.Request{Method: "GET", Path: path}, tsBack, "idle-nonce-0123456789")
	req := sg.request("GET", path, "")
	req.Header.Set("Argus-Signature", h)
	e.send(req).want(200)
}

// TestReplayCacheFull: with the SQLite store's cache full, a signed
// request is 503 service.unavailable with Retry-After, not accepted.
func TestReplayCacheFull(t *testing.T) {
	e, _, sg, _ := signedEnv(t, server.Config{ReplayEntries: 2})
	path := "/authentication/v1/user/alice/apikey"
	sg.signed("GET", path, "").want(200)
	sg.signed("GET", path, "").want(200)
	r := sg.signed("GET", path, "")
	r.fails(503, "service.unavailable")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	if rec := e.lastAudit(1)[0]; rec.Outcome != "failure" || rec.Reason != "replay_cache_full" {
		t.Fatalf("recorded %+v", rec)
	}
	// Once the entries expire there is room again.
	e.clock.Add(301 * time.Second)
	sg.signed("GET", path, "").want(200)
}
