package audit

import (
	"testing"
	"time"
)

func chain(n int) []Record {
	prev := GenesisHash
	var out []Record
	for i := 1; i <= n; i++ {
		r := Seal(int64(i), prev, Event{Time: time.Unix(int64(i), 0), Event: "authn", Outcome: Success, Actor: "a:user:x"})
		out = append(out, r)
		prev = r.Hash
	}
	return out
}

func verify(rs []Record, headSeq int64, headHash string) (int64, string) {
	v := NewVerifier()
	for _, r := range rs {
		if !v.Next(r) {
			break
		}
	}
	return v.Finish(headSeq, headHash)
}

func TestVerify(t *testing.T) {
	rs := chain(5)
	if seq, why := verify(rs, 5, rs[4].Hash); seq != 0 {
		t.Fatalf("intact chain broken at %d: %s", seq, why)
	}
	altered := append([]Record(nil), rs...)
	altered[2].Outcome = Failure
	if seq, _ := verify(altered, 5, rs[4].Hash); seq != 3 {
		t.Fatalf("altered record 3: got %d", seq)
	}
	removed := append(append([]Record(nil), rs[:1]...), rs[2:]...)
	if seq, _ := verify(removed, 5, rs[4].Hash); seq != 2 {
		t.Fatalf("removed record 2: got %d", seq)
	}
	if seq, _ := verify(rs[:4], 5, rs[4].Hash); seq != 5 {
		t.Fatalf("removed tail: got %d", seq)
	}
}

func TestSecretHMACHidesSecret(t *testing.T) {
	h := SecretHMAC([]byte("k"), "supersecret")
	if h == "" || h[:5] != "hmac:" || len(h) != 5+32 {
		t.Fatalf("bad hmac form %q", h)
	}
	if SecretHMAC([]byte("k"), "other") == h {
		t.Fatal("different secrets share an hmac")
	}
}

// TestChainIsStable pins the hash of two records: a change to how records
// are hashed would break every stored chain.
func TestChainIsStable(t *testing.T) {
	e := Event{Time: time.UnixMicro(1700000000123456), Account: "acme", Event: "apikey.verify", Outcome: "failure", Reason: "revoked",
		Actor: "acme:user:bob", Subject: "acme:host:app/1", KeyID: "k1", ClientIP: "192.0.2.1", PeerIP: "127.0.0.1", RequestID: "r-1",
		Authenticator: "authn", Detail: "ünï \"x\"\n"}
	if got := Chain(42, GenesisHash, e); got != "d9aff98664b467cae8bc3f3759fe632a5c627e3ecc2cebd99687ae9c2064b24a" {
		t.Errorf("Chain = %s", got)
	}
	if got := Chain(1, "ab", Event{}); got != "f4dbf89a844f1320d99ef1dfa923165c0e1f9de8cc4460646fef25cab04d437e" {
		t.Errorf("Chain of an empty event = %s", got)
	}
}

func TestSealCleansText(t *testing.T) {
	r := Seal(1, GenesisHash, Event{Actor: "acme:user:a\x00b", Detail: "bad\xffutf8", Subject: "ünï"})
	if r.Actor != "acme:user:a\uFFFDb" || r.Detail != "bad\uFFFDutf8" || r.Subject != "ünï" {
		t.Fatalf("sealed %q %q %q", r.Actor, r.Detail, r.Subject)
	}
	if Chain(r.Seq, r.PrevHash, r.Event) != r.Hash {
		t.Fatal("the hash does not cover the cleaned text")
	}
}
