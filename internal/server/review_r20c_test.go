package server

import (
	"testing"
	"time"
)

// G4: a SIGHUP reload that reads an expired certificate (a renewal hook
// that copied the wrong file, a clock-skewed CA) must keep serving the
// previous, valid one: once swapped in, every new handshake fails for every
// client until someone notices. Reload checks only that key and certificate
// match.
func TestReviewR20cReloadRefusesExpiredCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "server CA")
	now := time.Now()
	certFile, keyFile := writePair(t, dir, ca.issue(t, "keyward-good", false, now.Add(-time.Minute), now.Add(time.Hour)))
	tf, err := NewTLS(TLSFiles{Cert: certFile, Key: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	writePair(t, dir, ca.issue(t, "keyward-expired", false, now.Add(-48*time.Hour), now.Add(-24*time.Hour)))
	if err := tf.Reload(); err == nil {
		t.Error("reload took an expired certificate without error")
	}
	cfg, err := tf.Config().GetConfigForClient(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cn := cfg.Certificates[0].Leaf.Subject.CommonName; cn != "keyward-good" {
		t.Errorf("serving %q after a reload with an expired certificate, want the previous keyward-good", cn)
	}
}
