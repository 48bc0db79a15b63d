package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/netpolicy"
)

// testCA is a certificate authority made in the test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

var serial int64

func newCA(t *testing.T, name string) testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return testCA{cert: c, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue signs a leaf certificate for name, valid from notBefore to notAfter.
func (ca testCA) issue(t *testing.T, name string, client bool, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		tmpl.IPAddresses = nil
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// writePair writes a certificate and its key as PEM files.
func writePair(t *testing.T, dir string, c tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	kb, err := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

// TestTLSClientCertificates: HTTPS only, TLS 1.2 at least; a client
// certificate signed by --client-ca reaches the caller as its verified
// chain; none is fine (requested, not required); an expired one and one
// signed by another CA fail the handshake; a reload takes a new certificate
// for new handshakes while an open connection goes on.
func TestTLSClientCertificates(t *testing.T) {
	dir := t.TempDir()
	serverCA, clientCA, otherCA := newCA(t, "server CA"), newCA(t, "client CA"), newCA(t, "rogue CA")
	now := time.Now()
	certFile, keyFile := writePair(t, dir, serverCA.issue(t, "keyward-1", false, now.Add(-time.Minute), now.Add(time.Hour)))
	caFile := filepath.Join(dir, "clients.pem")
	os.WriteFile(caFile, clientCA.pem, 0o600)

	tlsFiles, err := NewTLS(TLSFiles{Cert: certFile, Key: keyFile, ClientCA: caFile})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{cfg: Config{MaxBody: 1 << 20, TrustedProxies: netpolicy.DefaultTrusted()}, log: slog.New(slog.DiscardHandler),
		metrics: newMetrics(), rids: newRequestIDs()}
	s.handler = s.middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chain := api.CallerFrom(r.Context()).ClientCert
		names := []string{}
		for _, c := range chain {
			names = append(names, c.Subject.CommonName)
		}
		io.WriteString(w, "chain="+strings.Join(names, ","))
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.ServeTLS(ctx, ln, tlsFiles) }()
	t.Cleanup(func() { cancel(); <-errc })
	base := "https://" + ln.Addr().String()

	roots := x509.NewCertPool()
	roots.AddCert(serverCA.cert)
	// The client sends its certificate whatever CAs the server names (Go's
	// would keep back one the server's CA list does not name).
	client := func(certs ...tls.Certificate) *http.Client {
		cfg := &tls.Config{RootCAs: roots}
		if len(certs) > 0 {
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &certs[0], nil }
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	}
	get := func(c *http.Client) (string, *tls.ConnectionState, error) {
		res, err := c.Get(base + "/")
		if err != nil {
			return "", nil, err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b), res.TLS, nil
	}

	good := clientCA.issue(t, "alice-client", true, now.Add(-time.Minute), now.Add(time.Hour))
	if body, _, err := get(client(good)); err != nil || body != "chain=alice-client,client CA" {
		t.Errorf("good client certificate: %q %v", body, err)
	}
	// Requested in the first handshake, naming the client CA; not required.
	var requested []string
	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots,
		GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			for _, dn := range cri.AcceptableCAs {
				requested = append(requested, string(dn))
			}
			return &tls.Certificate{}, nil
		}}}}
	body, st, err := get(anon)
	if len(requested) != 1 || !strings.Contains(requested[0], "client CA") {
		t.Errorf("certificate request named %q, want the client CA", requested)
	}
	if err != nil || body != "chain=" {
		t.Errorf("no client certificate: %q %v", body, err)
	}
	if st == nil || st.Version < tls.VersionTLS12 || st.PeerCertificates[0].Subject.CommonName != "keyward-1" {
		t.Fatalf("connection state %+v", st)
	}
	expired := clientCA.issue(t, "expired", true, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	if _, _, err := get(client(expired)); err == nil {
		t.Error("an expired client certificate was accepted")
	}
	rogue := otherCA.issue(t, "mallory", true, now.Add(-time.Minute), now.Add(time.Hour))
	if _, _, err := get(client(rogue)); err == nil {
		t.Error("a client certificate signed by another CA was accepted")
	}
	// Plain HTTP and TLS 1.1 are refused.
	if res, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP answered %d", res.StatusCode)
		}
		res.Body.Close()
	}
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS11}}}
	if _, _, err := get(old); err == nil {
		t.Error("TLS 1.1 was accepted")
	}

	// Reload: new handshakes get the new certificate; a broken file keeps the old one.
	writePair(t, dir, serverCA.issue(t, "keyward-2", false, now.Add(-time.Minute), now.Add(time.Hour)))
	if err := tlsFiles.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, st, err := get(client()); err != nil || st.PeerCertificates[0].Subject.CommonName != "keyward-2" {
		t.Errorf("after reload: %v %v", st, err)
	}
	os.WriteFile(keyFile, []byte("garbage"), 0o600)
	if err := tlsFiles.Reload(); err == nil || !strings.Contains(err.Error(), keyFile) {
		t.Errorf("reload of a broken key: %v", err)
	}
	if _, st, err := get(client()); err != nil || st.PeerCertificates[0].Subject.CommonName != "keyward-2" {
		t.Errorf("after a failed reload: %v %v", st, err)
	}
}
