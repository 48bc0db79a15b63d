// Package audit defines the audit event, its hash chain, and the HMAC form in which presented secrets may appear.
package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
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

// Record is an Event as stored: its place in the chain and the hashes binding it.
type Record struct {
	Seq      int64  `json:"seq"`
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
	Event
}

// GenesisHash is the PrevHash of the first record.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Chain computes the hash of a record from its sequence number, the previous
// record's hash and its fields. Time is hashed at microsecond precision, the
// precision every store keeps.
func Chain(seq int64, prev string, e Event) string {
	var stack [512]byte
	b := stack[:0]
	b = appendIntField(b, seq)
	b = appendField(b, prev)
	b = appendIntField(b, e.Time.UnixMicro())
	for _, f := range [...]string{e.Account, e.Event, e.Outcome, e.Reason, e.Actor, e.Subject, e.KeyID,
		e.ClientIP, e.PeerIP, e.RequestID, e.Authenticator, e.Detail} {
		b = appendField(b, f)
	}
	sum := sha256.Sum256(b)
	var h [2 * sha256.Size]byte
	hex.Encode(h[:], sum[:])
	return string(h[:])
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

// Seal fills in Seq, PrevHash and Hash of r, following prev.
func Seal(seq int64, prev string, e Event) Record {
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	// A record holds text every store keeps as given: a NUL byte or invalid
	// UTF-8 (an attacker's login, say) becomes U+FFFD, or PostgreSQL would
	// refuse the whole batch of records sealed with it.
	for _, f := range [...]*string{&e.Account, &e.Event, &e.Outcome, &e.Reason, &e.Actor, &e.Subject, &e.KeyID,
		&e.ClientIP, &e.PeerIP, &e.RequestID, &e.Authenticator, &e.Detail} {
		*f = cleanText(*f)
	}
	return Record{Seq: seq, PrevHash: prev, Hash: Chain(seq, prev, e), Event: e}
}

// cleanText returns s with each NUL byte and invalid UTF-8 sequence replaced
// by U+FFFD, and s itself when there is none.
func cleanText(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// Verifier checks a chain record by record, in sequence order, so a store
// can stream millions of records through it.
type Verifier struct {
	prev   string
	want   int64
	broken int64
	why    string
}

// NewVerifier starts a check at the genesis record.
func NewVerifier() *Verifier { return &Verifier{prev: GenesisHash, want: 1} }

// Next checks one record; it returns false once the chain is broken.
func (v *Verifier) Next(r Record) bool {
	if v.broken != 0 {
		return false
	}
	switch {
	case r.Seq != v.want:
		v.broken, v.why = v.want, "record "+strconv.FormatInt(v.want, 10)+" is missing"
	case r.PrevHash != v.prev:
		v.broken, v.why = r.Seq, "its previous-hash link does not match record "+strconv.FormatInt(r.Seq-1, 10)
	case Chain(r.Seq, r.PrevHash, r.Event) != r.Hash:
		v.broken, v.why = r.Seq, "its contents do not match its hash"
	default:
		v.prev = r.Hash
		v.want++
		return true
	}
	return false
}

// Finish compares the walked chain with the head kept beside the records, so
// a removed tail is noticed too. It returns the first broken record's sequence
// number and why, or 0 and "" if the chain holds.
func (v *Verifier) Finish(headSeq int64, headHash string) (int64, string) {
	if v.broken != 0 {
		return v.broken, v.why
	}
	last := v.want - 1
	if headSeq != last || (headSeq > 0 && headHash != v.prev) {
		return last + 1, "the chain head names record " + strconv.FormatInt(headSeq, 10) + " but the last intact record is " + strconv.FormatInt(last, 10)
	}
	return 0, ""
}

// SecretHMAC returns the form in which a presented secret may appear in an
// audit record: "hmac:" and a truncated HMAC-SHA256 under key, so "was this
// secret used?" is answerable without the secret being stored.
func SecretHMAC(key []byte, secret string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(secret))
	return "hmac:" + hex.EncodeToString(m.Sum(nil)[:16])
}
