// Package audit defines the audit event, its keyed hash chain, and the HMAC form in which presented secrets may appear.
package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Outcomes of an audited action.
const (
	Success = "success"
	Failure = "failure"
)

// Event is one audited action. Actor and Subject are Conjur role ids
// (account:kind:login), also for logins that do not exist.
type Event struct {
	Time          time.Time `json:"time"`
	Account       string    `json:"account"`
	Event         string    `json:"event"`
	Outcome       string    `json:"outcome"`
	Reason        string    `json:"reason,omitempty"`
	Actor         string    `json:"actor"`
	Subject       string    `json:"subject"`
	KeyID         string    `json:"key_id,omitempty"`
	ClientIP      string    `json:"client_ip"`
	PeerIP        string    `json:"peer_ip,omitempty"`
	RequestID     string    `json:"request_id"`
	Authenticator string    `json:"authenticator,omitempty"`
	Detail        string    `json:"detail,omitempty"` // short, secret-free text
}

// Filter narrows an audit listing: each non-empty field must match
// exactly; Since is inclusive and Until exclusive (zero: unbounded).
type Filter struct {
	Event, Outcome, Actor, KeyID, ClientIP string
	Since, Until                           time.Time
}

// Record is an Event as stored: its place in the chain and the hashes binding it.
type Record struct {
	Seq      int64  `json:"seq"`
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
	// Keyed: Hash is an HMAC-SHA256 under the chain's Key. Records written
	// before keyed chaining (Keyed false) carry a plain SHA-256, which
	// anyone can recompute; they can only come before the keyed ones.
	Keyed bool `json:"-"`
	Event
}

// GenesisHash is the PrevHash of the first record.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Key chains records with HMAC-SHA256, so that nobody without the master
// key (from which the key is derived) can rewrite a record and chain the
// rest again, or add one.
type Key struct {
	// states pools an HMAC state with its encoding buffer: building an
	// HMAC costs two SHA-256 states and a key schedule, and the append is
	// on the request's path.
	states sync.Pool
}

type macState struct {
	h   hash.Hash
	buf []byte
	sum [sha256.Size]byte
}

// NewKey returns the chain key for secret (crypto.Sealer.AuditChainKey: 32
// bytes derived from the master key).
func NewKey(secret []byte) *Key {
	secret = bytes.Clone(secret)
	k := &Key{}
	k.states.New = func() any { return &macState{h: hmac.New(sha256.New, secret), buf: make([]byte, 0, 512)} }
	return k
}

// Chain computes the MAC of a record from its sequence number, the previous
// record's hash and its fields: HMAC-SHA256 under k of the encoding
// UnkeyedChain hashes.
func (k *Key) Chain(seq int64, prev string, e *Event) string {
	st := k.states.Get().(*macState)
	st.buf = appendRecord(st.buf[:0], seq, prev, e)
	st.h.Reset()
	st.h.Write(st.buf)
	var h [2 * sha256.Size]byte
	hex.Encode(h[:], st.h.Sum(st.sum[:0]))
	if cap(st.buf) <= 64<<10 { // keep no huge buffer alive
		k.states.Put(st)
	}
	return string(h[:])
}

// Seal fills in Seq, PrevHash and Hash of a keyed record following prev.
// Its name fields are bounded (BoundNames).
func (k *Key) Seal(seq int64, prev string, e Event) Record {
	e = BoundNames(clean(e))
	return Record{Seq: seq, PrevHash: prev, Hash: k.Chain(seq, prev, &e), Keyed: true, Event: e}
}

// Valid reports whether r's hash is right for its sequence number, link and
// contents: the MAC under k for a keyed record, the plain SHA-256 for an
// unkeyed one.
func (k *Key) Valid(r *Record) bool {
	if r.Keyed {
		// Not a secret compared against a guesser online: == will do.
		return k.Chain(r.Seq, r.PrevHash, &r.Event) == r.Hash
	}
	return UnkeyedChain(r.Seq, r.PrevHash, &r.Event) == r.Hash
}

// UnkeyedChain is how records were chained before the chain was keyed: a
// plain SHA-256 of the record's encoding. Kept to verify those records.
// Time is hashed at microsecond precision, the precision every store keeps.
func UnkeyedChain(seq int64, prev string, e *Event) string {
	var stack [512]byte
	sum := sha256.Sum256(appendRecord(stack[:0], seq, prev, e))
	var h [2 * sha256.Size]byte
	hex.Encode(h[:], sum[:])
	return string(h[:])
}

// appendRecord appends the encoding of a record that both chains hash.
func appendRecord(b []byte, seq int64, prev string, e *Event) []byte {
	b = appendIntField(b, seq)
	b = appendField(b, prev)
	b = appendIntField(b, e.Time.UnixMicro())
	for _, f := range [...]string{e.Account, e.Event, e.Outcome, e.Reason, e.Actor, e.Subject, e.KeyID,
		e.ClientIP, e.PeerIP, e.RequestID, e.Authenticator, e.Detail} {
		b = appendField(b, f)
	}
	return b
}

// appendField appends s as "len:s;", so no two field lists hash alike.
func appendField(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	b = append(b, s...)
	return append(b, ';')
}

func appendIntField(b []byte, n int64) []byte {
	var d [20]byte
	digits := strconv.AppendInt(d[:0], n, 10)
	b = strconv.AppendInt(b, int64(len(digits)), 10)
	b = append(b, ':')
	b = append(b, digits...)
	return append(b, ';')
}

// PendingMAC is the MAC under k of a batch of records written to a shared
// store's pending table before a linker chains them: the records as given
// (cleaned, at microsecond precision), in order. Its encoding starts with
// the field "pending", which no chain record's or checkpoint's encoding
// does, so no MAC of one kind verifies as another.
func (k *Key) PendingMAC(evs []Event) []byte {
	st := k.states.Get().(*macState)
	b := appendField(st.buf[:0], "pending")
	b = appendIntField(b, int64(len(evs)))
	for i := range evs {
		e := clean(evs[i])
		b = appendRecord(b, int64(i), "", &e)
	}
	st.buf = b
	st.h.Reset()
	st.h.Write(b)
	mac := st.h.Sum(nil)
	if cap(st.buf) <= 64<<10 {
		k.states.Put(st)
	}
	return mac
}

// ValidPending reports whether mac is PendingMAC of evs.
func (k *Key) ValidPending(evs []Event, mac []byte) bool {
	return len(mac) == sha256.Size && hmac.Equal(k.PendingMAC(evs), mac)
}

// SealUnkeyed fills in Seq, PrevHash and Hash of an unkeyed record, as
// records were sealed before the chain was keyed. Only for tests that need
// such records (a chain from before the upgrade); stores seal with a Key.
func SealUnkeyed(seq int64, prev string, e Event) Record {
	e = clean(e)
	return Record{Seq: seq, PrevHash: prev, Hash: UnkeyedChain(seq, prev, &e), Event: e}
}

// MaxName is the most bytes a record's name field (account, event,
// outcome, reason, actor, subject, authenticator) keeps. Stores keep each
// name once under a unique index, and PostgreSQL's btree refuses an entry
// over ~2,700 bytes: one record naming a longer login would stop every
// linker for good (review r25c F4).
const MaxName = 1024

// BoundNames returns e with every name field longer than MaxName cut to a
// prefix (on a character boundary) followed by "…[N bytes, sha256 H]": the
// original length and the first 16 hex digits of its SHA-256, so a record
// still says what was sent. A bounded field is not bounded again.
func BoundNames(e Event) Event {
	for _, f := range [...]*string{&e.Account, &e.Event, &e.Outcome, &e.Reason, &e.Actor, &e.Subject, &e.Authenticator} {
		if len(*f) > MaxName {
			*f = boundName(*f)
		}
	}
	return e
}

func boundName(s string) string {
	sum := sha256.Sum256([]byte(s))
	suffix := "…[" + strconv.Itoa(len(s)) + " bytes, sha256 " + hex.EncodeToString(sum[:8]) + "]"
	cut := MaxName - len(suffix)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + suffix
}

// clean truncates e's time to microseconds, in UTC, and cleans its text.
func clean(e Event) Event {
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	// A record holds text every store keeps as given: a NUL byte or invalid
	// UTF-8 (an attacker's login, say) becomes U+FFFD, or PostgreSQL would
	// refuse the whole batch of records sealed with it.
	for _, f := range [...]*string{&e.Account, &e.Event, &e.Outcome, &e.Reason, &e.Actor, &e.Subject, &e.KeyID,
		&e.ClientIP, &e.PeerIP, &e.RequestID, &e.Authenticator, &e.Detail} {
		*f = cleanText(*f)
	}
	return e
}

// cleanText returns s with each NUL byte and invalid UTF-8 sequence replaced
// by U+FFFD, and s itself when there is none.
func cleanText(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// Check is the outcome of walking a chain.
type Check struct {
	From    int64  // the checkpoint the walk started from (0: the genesis)
	Records int64  // intact records walked after it
	Unkeyed int64  // how many of them (the first ones) are unkeyed
	Broken  int64  // the first broken record's sequence number; 0 if none
	Why     string // why it is broken
	// Quarantined counts pending batches a linker refused (their MAC did
	// not verify: written or altered without the master key): kept aside,
	// never chained, each marked in the chain by an audit.pending_rejected
	// record. Only a store whose instances link pending records has them.
	Quarantined int64
	// Rejected counts the keyed audit.pending_rejected records the walk
	// verified. A store whose quarantine holds fewer rows than that had
	// rows removed (review r25b R3): QuarantineMissing says how many, and
	// Quarantined counts at least Rejected.
	Rejected          int64
	QuarantineMissing int64
}

// Verifier checks a chain record by record, in sequence order, so a store
// can stream millions of records through it. Unkeyed records verify as
// they did before the chain was keyed, but only before the first keyed one.
type Verifier struct {
	key     *Key
	prev    string
	want    int64
	from    int64
	unkeyed int64
	keyed   bool
	broken  int64
	why     string
	// cp is the checkpoint the walk started from; vouched says whether
	// its audit.prune record was seen (or found by the caller: Vouch).
	cp      Checkpoint
	vouched bool
}

// NewVerifier starts a check at the genesis record, under key.
func NewVerifier(key *Key) *Verifier {
	return &Verifier{key: key, prev: GenesisHash, want: 1, vouched: true}
}

// NewVerifierFrom starts a check after a checkpoint: the records before
// record cp.Seq+1 were pruned, and the first one left must link to cp.Hash.
// The caller checks cp with ValidCheckpoint first. A checkpoint after a
// prune (Seq > 0) must be vouched for by the keyed audit.prune record that
// made it, after it in the chain (Vouches): a checkpoint copied from
// another database with the same key, or one whose prune record was
// removed, is not.
func NewVerifierFrom(key *Key, cp Checkpoint) *Verifier {
	return &Verifier{key: key, prev: cp.Hash, want: cp.Seq + 1, from: cp.Seq, keyed: cp.Keyed, cp: cp, vouched: cp.Seq == 0}
}

// Vouch tells v that the caller found the checkpoint's audit.prune record
// (valid under the key) beyond the records it walks.
func (v *Verifier) Vouch() { v.vouched = true }

// Checkpoint is what pruning leaves of the records it removed: the
// sequence number and hash of the last of them, whether it was keyed, and a
// MAC of the three under the chain's key. The zero Seq (with GenesisHash) is
// the start of a chain nothing was pruned from (GenesisCheckpoint).
type Checkpoint struct {
	Seq   int64
	Hash  string
	Keyed bool
	MAC   string
}

// Checkpoint returns the checkpoint after r, with its MAC.
func (k *Key) Checkpoint(r *Record) Checkpoint {
	cp := Checkpoint{Seq: r.Seq, Hash: r.Hash, Keyed: r.Keyed}
	cp.MAC = k.checkpointMAC(cp)
	return cp
}

func (k *Key) checkpointMAC(cp Checkpoint) string {
	var b []byte
	b = appendField(b, "checkpoint")
	b = appendIntField(b, cp.Seq)
	b = appendField(b, cp.Hash)
	if cp.Keyed {
		b = appendField(b, "keyed")
	} else {
		b = appendField(b, "unkeyed")
	}
	st := k.states.Get().(*macState)
	st.h.Reset()
	st.h.Write(b)
	mac := hex.EncodeToString(st.h.Sum(st.sum[:0]))
	k.states.Put(st)
	return mac
}

// GenesisCheckpoint is the start of a chain nothing was pruned from, signed
// under k: keyed, a chain whose every record is keyed (no unkeyed record
// verifies after it, so nobody without the key can rewrite the chain as
// unkeyed records). Only a store's migration writes it, when it knows
// what the chain starts with: never because a MAC was found missing.
func (k *Key) GenesisCheckpoint(keyed bool) Checkpoint {
	cp := Checkpoint{Hash: GenesisHash, Keyed: keyed}
	cp.MAC = k.checkpointMAC(cp)
	return cp
}

// ValidCheckpoint reports whether cp is a checkpoint made under k, the
// genesis included: nobody without the key can move a checkpoint after
// removing more records, nor turn a keyed genesis into an unkeyed one (which
// would let a chain rewritten as unkeyed records verify as unkeyed).
func (k *Key) ValidCheckpoint(cp Checkpoint) bool {
	if cp.Seq < 0 || (cp.Seq == 0 && cp.Hash != GenesisHash) || cp.MAC == "" {
		return false
	}
	return hmac.Equal([]byte(k.checkpointMAC(cp)), []byte(cp.MAC))
}

// PruneEvent is the event of the record a prune appends; its Subject is
// CheckpointSubject of the checkpoint the prune left.
const PruneEvent = "audit.prune"

// CheckpointSubject names checkpoint cp in the Subject of the audit.prune
// record that vouches for it.
func CheckpointSubject(cp Checkpoint) string {
	return "checkpoint:" + strconv.FormatInt(cp.Seq, 10) + ":" + cp.Hash
}

// Vouches reports whether r is the keyed audit.prune record that made cp.
func Vouches(r *Record, cp Checkpoint) bool {
	return r.Keyed && r.Event.Event == PruneEvent && r.Subject == CheckpointSubject(cp)
}

// Prev is the hash the next record must link to (for a store that does not
// keep each record's previous hash, but derives it while walking).
func (v *Verifier) Prev() string { return v.prev }

// Next checks one record; it returns false once the chain is broken.
func (v *Verifier) Next(r *Record) bool {
	if v.broken != 0 {
		return false
	}
	switch {
	case r.Seq != v.want:
		v.broken, v.why = v.want, "record "+strconv.FormatInt(v.want, 10)+" is missing"
	case r.PrevHash != v.prev:
		v.broken, v.why = r.Seq, "its previous-hash link does not match record "+strconv.FormatInt(r.Seq-1, 10)
	case !r.Keyed && v.keyed:
		v.broken, v.why = r.Seq, "it is unkeyed but follows keyed records"
	case !v.key.Valid(r):
		v.broken, v.why = r.Seq, "its contents do not match its hash"
		if r.Keyed {
			v.why = "its MAC does not match its contents (altered or forged, or the master key is not the one the chain was written with)"
		}
	default:
		if !v.vouched && Vouches(r, v.cp) {
			v.vouched = true
		}
		if r.Keyed {
			v.keyed = true
		} else {
			v.unkeyed++
		}
		v.prev = r.Hash
		v.want++
		return true
	}
	return false
}

// Finish compares the walked chain with the head kept beside the records, so
// a removed tail is noticed too (unless the head was moved back with it).
func (v *Verifier) Finish(headSeq int64, headHash string) Check {
	last := v.want - 1
	c := Check{From: v.from, Records: last - v.from, Unkeyed: v.unkeyed, Broken: v.broken, Why: v.why}
	if v.broken == 0 && (headSeq != last || (headSeq > 0 && headHash != v.prev)) {
		c.Broken, c.Why = last+1, "the chain head names record "+strconv.FormatInt(headSeq, 10)+" but the last intact record is "+strconv.FormatInt(last, 10)
	}
	if c.Broken == 0 && !v.vouched {
		c.Broken, c.Why = v.from+1, "no audit.prune record vouches for the checkpoint at seq "+strconv.FormatInt(v.from, 10)+
			" (records removed without a prune, or a checkpoint copied from another database)"
	}
	return c
}

// SecretHMAC returns the form in which a presented secret may appear in an
// audit record: "hmac:" and a truncated HMAC-SHA256 under key, so "was this
// secret used?" is answerable without the secret being stored.
func SecretHMAC(key []byte, secret string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(secret))
	return "hmac:" + hex.EncodeToString(m.Sum(nil)[:16])
}

// Clean is e as a record will hold it: time in UTC to the microsecond, NUL
// bytes and invalid UTF-8 replaced by U+FFFD. For stores that keep events
// before sealing them.
func Clean(e Event) Event { return clean(e) }
