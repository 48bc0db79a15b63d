package argus_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
)

// TestIdempotencyLoginOrID (review 22 F4): {user} by login or by native id
// names the same owner, so the same Idempotency-Key and body answer the
// first object again (API key and signature key), another body conflicts;
// the same Idempotency-Key for another owner is another request.
func TestIdempotencyLoginOrID(t *testing.T) {
	e := newEnv(t)
	e.role("keyadmin", "api-keys-manage")
	u := e.newUser("idem", "", true, "keyadmin")
	other := e.newUser("other", "", false)
	tok := e.session(u)
	var a, b, c keyObj
	e.call("POST", "/authentication/v1/user/idem/apikey", `{"description":"x"}`, bearer(tok), header("Idempotency-Key", "k1")).want(200).data(&a)
	e.call("POST", "/authentication/v1/user/"+u.id+"/apikey", `{"description":"x"}`, bearer(tok), header("Idempotency-Key", "k1")).want(200).data(&b)
	if a.ID == "" || a.ID != b.ID || a.APIKey != b.APIKey {
		t.Fatalf("same Idempotency-Key, same user, same body: keys %s and %s", a.ID, b.ID)
	}
	e.call("POST", "/authentication/v1/user/"+u.id+"/apikey", `{"description":"y"}`, bearer(tok), header("Idempotency-Key", "k1")).
		fails(409, "request.idempotency.conflict")
	e.call("POST", "/authentication/v1/user/other/apikey", `{"description":"x"}`, bearer(tok), header("Idempotency-Key", "k1")).want(200).data(&c)
	if c.ID == a.ID || c.User.ID != other.id {
		t.Fatalf("the same Idempotency-Key for another owner answered %s (owner %s)", c.ID, c.User.ID)
	}

	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	body := map[string]any{"publicKey": pemOf(t, pub)}
	var s1, s2 sigObj
	e.call("POST", "/authentication/v1/user/"+u.id+"/signature", body, bearer(tok), header("Idempotency-Key", "s1")).want(200).data(&s1)
	e.call("POST", "/authentication/v1/user/idem/signature", body, bearer(tok), header("Idempotency-Key", "s1")).want(200).data(&s2)
	if s1.ID == "" || s1.ID != s2.ID {
		t.Fatalf("same Idempotency-Key, same user, same body: signature keys %s and %s", s1.ID, s2.ID)
	}
}
