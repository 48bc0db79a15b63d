package argus_test

import "testing"

// r22b F4: an idempotent repeat of a key creation hands the key's secret out
// again (sealed answer, "apiKey") with no audit record at all: the creation
// is recorded once, every later disclosure of the same secret is not.
// (Conjur's login, which also answers an existing secret, records apikey.read.)
func TestR22bIdempotentRepeatAudited(t *testing.T) {
	e := newEnv(t)
	u := e.newUser("idem", "", true)
	tok := e.session(u)
	var a, b keyObj
	path := "/authentication/v1/user/idem/apikey"
	e.call("POST", path, `{"description":"x"}`, bearer(tok), header("Idempotency-Key", "k1")).want(200).data(&a)
	count := func() int {
		n := 0
		for _, r := range e.lastAudit(100) {
			if r.KeyID == a.ID {
				n++
			}
		}
		return n
	}
	before := count()
	e.call("POST", path, `{"description":"x"}`, bearer(tok), header("Idempotency-Key", "k1")).want(200).data(&b)
	if b.APIKey != a.APIKey || b.APIKey == "" {
		t.Fatalf("repeat did not answer the first key: %q vs %q", b.APIKey, a.APIKey)
	}
	if after := count(); after == before {
		t.Fatalf("the repeat disclosed key %s's secret again and left no audit record (%d records name the key before and after)", a.ID, before)
	}
}
