package argus_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
)

// r22b F5: a signature key's fingerprint is UNIQUE across every user, customer
// and account. Public keys are public (an OpenSSH line from a forge profile
// is accepted as is), so any user who may enrol keys for himself pre-empts
// another's key: the victim's enrolment of his own key is then refused 412,
// and the answer tells the enrolling user that someone holds that key.
func TestR22bForeignEnrolmentPreemptsOwner(t *testing.T) {
	e := newEnv(t)
	mallory := e.newUser("mallory", "cust-b", true)
	alice := e.newUser("alice", "cust-a", true)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	line := sshLine(t, pub) // alice's published SSH key
	e.enrol(e.session(mallory), "mallory", line)
	r := e.call("POST", "/authentication/v1/user/alice/signature", map[string]any{"publicKey": line, "description": "mine"}, bearer(e.session(alice)))
	if r.status != 200 {
		t.Fatalf("alice cannot enrol her own public key once mallory (another customer) enrolled it: %d %s", r.status, r.body)
	}
}
