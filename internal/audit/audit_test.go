package audit

import (
	"strings"
	"testing"
	"time"
)

var testKey = NewKey([]byte("0123456789abcdef0123456789abcdef"))

func chain(n int) []Record {
	prev := GenesisHash
	var out []Record
	for i := 1; i <= n; i++ {
		r := testKey.Seal(int64(i), prev, Event{Time: time.Unix(int64(i), 0), Event: "authn", Outcome: Success, Actor: "a:user:x"})
		out = append(out, r)
		prev = r.Hash
	}
	return out
}

func verifyWith(k *Key, rs []Record, headSeq int64, headHash string) Check {
	v := NewVerifier(k)
	for i := range rs {
		if !v.Next(&rs[i]) {
			break
		}
	}
	return v.Finish(headSeq, headHash)
}

func verify(rs []Record, headSeq int64, headHash string) (int64, string) {
	c := verifyWith(testKey, rs, headSeq, headHash)
	return c.Broken, c.Why
}

func TestVerify(t *testing.T) {
	rs := chain(5)
	if c := verifyWith(testKey, rs, 5, rs[4].Hash); c.Broken != 0 || c.Records != 5 || c.Unkeyed != 0 {
		t.Fatalf("intact chain: %+v", c)
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

// TestKeyedChainResistsRechaining: whoever lacks the key and rewrites a
// record, then chains it and the rest again (with SHA-256, as the unkeyed
// chain did, or marking them unkeyed), or verifies under another key, gets
// a broken chain.
func TestKeyedChainResistsRechaining(t *testing.T) {
	rs := chain(5)
	rechain := func(from int, keyed bool) []Record {
		out := append([]Record(nil), rs...)
		out[from-1].Detail = "forged"
		for i := from - 1; i < len(out); i++ {
			if i > 0 {
				out[i].PrevHash = out[i-1].Hash
			}
			out[i].Keyed = keyed
			out[i].Hash = UnkeyedChain(out[i].Seq, out[i].PrevHash, &out[i].Event)
		}
		return out
	}
	forged := rechain(3, true)
	if c := verifyWith(testKey, forged, 5, forged[4].Hash); c.Broken != 3 || !strings.Contains(c.Why, "MAC") {
		t.Fatalf("rechained with SHA-256, still marked keyed: %+v", c)
	}
	forged = rechain(3, false)
	if c := verifyWith(testKey, forged, 5, forged[4].Hash); c.Broken != 3 || !strings.Contains(c.Why, "unkeyed but follows keyed") {
		t.Fatalf("rechained and marked unkeyed: %+v", c)
	}
	// Every record downgraded: it verifies as an unkeyed chain, and says so.
	forged = rechain(1, false)
	if c := verifyWith(testKey, forged, 5, forged[4].Hash); c.Broken != 0 || c.Unkeyed != 5 {
		t.Fatalf("whole chain downgraded: %+v; want intact with 5 unkeyed", c)
	}
	other := NewKey([]byte("another key, another key, anothe"))
	if c := verifyWith(other, rs, 5, rs[4].Hash); c.Broken != 1 {
		t.Fatalf("under another key: %+v", c)
	}
}

// TestUnkeyedPrefix: records from before keyed chaining verify as before,
// counted; the first keyed record links to the last unkeyed one.
func TestUnkeyedPrefix(t *testing.T) {
	prev := GenesisHash
	var rs []Record
	for i := 1; i <= 6; i++ {
		e := Event{Time: time.Unix(int64(i), 0), Event: "e"}
		var r Record
		if i <= 4 {
			r = SealUnkeyed(int64(i), prev, e)
		} else {
			r = testKey.Seal(int64(i), prev, e)
		}
		rs = append(rs, r)
		prev = r.Hash
	}
	if c := verifyWith(testKey, rs, 6, prev); c.Broken != 0 || c.Records != 6 || c.Unkeyed != 4 {
		t.Fatalf("mixed chain: %+v", c)
	}
	rs[1].Detail = "forged"
	if c := verifyWith(testKey, rs, 6, prev); c.Broken != 2 {
		t.Fatalf("altered unkeyed record: %+v", c)
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

// TestChainIsStable pins the hash and MAC of records: a change to how
// records are hashed would break every stored chain.
func TestChainIsStable(t *testing.T) {
	e := Event{Time: time.UnixMicro(1700000000123456), Account: "acme", Event: "apikey.verify", Outcome: "failure", Reason: "revoked",
		Actor: "acme:user:bob", Subject: "acme:host:app/1", KeyID: "k1", ClientIP: "192.0.2.1", PeerIP: "127.0.0.1", RequestID: "r-1",
		Authenticator: "authn", Detail: "ünï \"x\"\n"}
	if got := UnkeyedChain(42, GenesisHash, &e); got != "d9aff98664b467cae8bc3f3759fe632a5c627e3ecc2cebd99687ae9c2064b24a" {
		t.Errorf("UnkeyedChain = %s", got)
	}
	if got := UnkeyedChain(1, "ab", &Event{}); got != "f4dbf89a844f1320d99ef1dfa923165c0e1f9de8cc4460646fef25cab04d437e" {
		t.Errorf("UnkeyedChain of an empty event = %s", got)
	}
	if got := testKey.Chain(42, GenesisHash, &e); got != "0c67128d7569a03e9beccb79cbb332abae93fd5718fafdf2a2f114dcfce007c3" {
		t.Errorf("Key.Chain = %s", got)
	}
}

func TestSealCleansText(t *testing.T) {
	r := testKey.Seal(1, GenesisHash, Event{Actor: "acme:user:a\x00b", Detail: "bad\xffutf8", Subject: "ünï"})
	if r.Actor != "acme:user:a\uFFFDb" || r.Detail != "bad\uFFFDutf8" || r.Subject != "ünï" {
		t.Fatalf("sealed %q %q %q", r.Actor, r.Detail, r.Subject)
	}
	if !r.Keyed || !testKey.Valid(&r) {
		t.Fatal("the MAC does not cover the cleaned text")
	}
}

// TestSealAllocations: sealing a record costs what the unkeyed chain did,
// one allocation (the hash text), on the audit append's hot path.
func TestSealAllocations(t *testing.T) {
	e := Event{Time: time.Now(), Account: "acme", Event: "apikey.verify", Outcome: Success, Actor: "acme:user:bob",
		Subject: "acme:user:bob", KeyID: "0123456789abcdef", ClientIP: "192.0.2.1", RequestID: "abcdef-1"}
	testKey.Seal(1, GenesisHash, e) // warm the pool
	want := 1.0
	if raceEnabled {
		want = 8 // the pool is defeated on purpose; still, a state per record is the bound
	}
	if n := testing.AllocsPerRun(1000, func() { testKey.Seal(1, GenesisHash, e) }); n > want {
		t.Fatalf("Seal allocates %.1f times per record, want at most %.0f", n, want)
	}
}

func BenchmarkSeal(b *testing.B) {
	e := Event{Time: time.Now(), Account: "acme", Event: "apikey.verify", Outcome: Success, Actor: "acme:user:bob",
		Subject: "acme:user:bob", KeyID: "0123456789abcdef", ClientIP: "192.0.2.1", RequestID: "abcdef-1"}
	b.Run("keyed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			testKey.Seal(1, GenesisHash, e)
		}
	})
	b.Run("unkeyed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			SealUnkeyed(1, GenesisHash, e)
		}
	})
}

// Review 25 F2: a pending batch's MAC binds every field of every record
// and their order, under the chain key only, and verifies as nothing else.
func TestPendingMAC(t *testing.T) {
	k := NewKey([]byte("pending mac test key, 32 bytes!!"))
	at := time.Date(2026, 12, 7, 22, 0, 0, 123456789, time.UTC)
	evs := []Event{
		{Time: at, Account: "acme", Event: "apikey.verify", Outcome: Success, Actor: "acme:user:bob", RequestID: "r1"},
		{Time: at, Account: "acme", Event: "apikey.revoke", Outcome: Success, Actor: "acme:user:bob", Subject: "k1", RequestID: "r2"},
	}
	mac := k.PendingMAC(evs)
	if !k.ValidPending(evs, mac) {
		t.Fatal("a batch's own MAC does not verify")
	}
	// As read back from a store: microseconds, cleaned.
	back := []Event{Clean(evs[0]), Clean(evs[1])}
	if !k.ValidPending(back, mac) {
		t.Fatal("the batch as stored does not verify")
	}
	altered := []Event{evs[0], evs[1]}
	altered[1].Actor = "acme:user:mallory"
	if k.ValidPending(altered, mac) {
		t.Error("an altered field verifies")
	}
	if k.ValidPending([]Event{evs[1], evs[0]}, mac) {
		t.Error("reordered records verify")
	}
	if k.ValidPending(evs[:1], mac) || k.ValidPending(append(evs[:2:2], evs[0]), mac) {
		t.Error("a batch with a record removed or added verifies")
	}
	if NewKey([]byte("another key entirely, 32 bytes!!")).ValidPending(evs, mac) {
		t.Error("the MAC verifies under another key")
	}
	if k.ValidPending(evs, nil) || k.ValidPending(evs, mac[:16]) {
		t.Error("a missing or short MAC verifies")
	}
}
