package main

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestServeTLSReloadOnSIGHUP: keyward serve --tls-cert/--tls-key serves
// HTTPS; the CLI trusts KEYWARD_CACERT (and nothing else then); SIGHUP
// loads a new certificate for new connections while an open one goes on.
func TestServeTLSReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "keyward test CA")
	certFile, keyFile := ca.serverPair(t, dir, "keyward-1")
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, ca.pem, 0o600)
	data := filepath.Join(dir, "data")
	p := startServe(t, cleanEnv("KEYWARD_TLS_CERT="+certFile, "KEYWARD_TLS_KEY="+keyFile),
		"--data", data, "--listen", "127.0.0.1:0", "--account", "acme")
	base := "https://" + p.addr
	key, err := os.ReadFile(filepath.Join(data, InitialAdminKeyFile))
	if err != nil {
		t.Fatal(err)
	}

	// The CLI over HTTPS.
	t.Setenv("KEYWARD_ADDR", base)
	t.Setenv("KEYWARD_TOKEN", strings.TrimSpace(string(key)))
	t.Setenv("KEYWARD_CACERT", "")
	if code, _, errs := cli(t, "user", "list"); code != 1 || !strings.Contains(errs, "certificate") {
		t.Errorf("without KEYWARD_CACERT: exit %d, %q", code, errs)
	}
	t.Setenv("KEYWARD_CACERT", caFile)
	if out := cliOK(t, "user", "list"); !strings.Contains(out, "admin") {
		t.Errorf("user list over HTTPS: %q", out)
	}

	// One keep-alive connection across the reload.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool()}}}
	get := func(c *http.Client) (cn string, reused bool) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+"/healthz", nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}))
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("healthz: %d", res.StatusCode)
		}
		return res.TLS.PeerCertificates[0].Subject.CommonName, reused
	}
	if cn, _ := get(client); cn != "keyward-1" {
		t.Fatalf("certificate %q", cn)
	}
	ca.serverPair(t, dir, "keyward-2")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitLog(t, "TLS certificate reloaded")
	if cn, reused := get(client); cn != "keyward-1" || !reused {
		t.Errorf("the open connection after SIGHUP: certificate %q, reused %v; want the old connection going on", cn, reused)
	}
	fresh := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool()}}}
	if cn, _ := get(fresh); cn != "keyward-2" {
		t.Errorf("a new connection after SIGHUP got certificate %q, want keyward-2", cn)
	}
	// Plain HTTP is not served.
	if res, err := http.Get("http://" + p.addr + "/healthz"); err == nil {
		if res.StatusCode == 200 {
			t.Error("plain HTTP answered 200 on a TLS listener")
		}
		res.Body.Close()
	}
}
