package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// TLSFiles are the listener's TLS files: a PEM certificate (chain) and its
// key, and optionally a PEM bundle of CAs that client certificates are
// verified against.
type TLSFiles struct {
	Cert, Key, ClientCA string
}

// TLS is a listener's TLS configuration whose files can be read again
// (SIGHUP) while it serves: each new handshake uses the files last read;
// connections already open keep theirs.
type TLS struct {
	files TLSFiles
	cur   atomic.Pointer[tls.Config]
}

// NewTLS reads the files; any error names the file at fault.
func NewTLS(files TLSFiles) (*TLS, error) {
	if files.Cert == "" || files.Key == "" {
		return nil, errors.New("TLS needs both --tls-cert and --tls-key")
	}
	t := &TLS{files: files}
	if err := t.Reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// Reload reads the files again. On error the configuration in use stays.
func (t *TLS) Reload() error {
	cert, err := tls.LoadX509KeyPair(t.files.Cert, t.files.Key)
	if err != nil {
		return fmt.Errorf("TLS certificate %s and key %s: %w", t.files.Cert, t.files.Key, err)
	}
	// An expired or not yet valid certificate (a renewal hook that copied
	// the wrong file) would fail every handshake: refused, so that a
	// reload keeps serving the previous one.
	if leaf := cert.Leaf; leaf != nil {
		now := time.Now()
		if now.After(leaf.NotAfter) {
			return fmt.Errorf("TLS certificate %s expired at %s: refused", t.files.Cert, leaf.NotAfter.UTC().Format(time.RFC3339))
		}
		if now.Before(leaf.NotBefore) {
			return fmt.Errorf("TLS certificate %s is not valid before %s: refused", t.files.Cert, leaf.NotBefore.UTC().Format(time.RFC3339))
		}
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2", "http/1.1"},
	}
	if t.files.ClientCA != "" {
		pem, err := os.ReadFile(t.files.ClientCA)
		if err != nil {
			return fmt.Errorf("client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("client CA %s: no PEM certificate in it", t.files.ClientCA)
		}
		// Requested in the first handshake, verified when given, never
		// required: most callers authenticate otherwise.
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	t.cur.Store(cfg)
	return nil
}

// Config is the tls.Config to serve with: every handshake takes the
// configuration last loaded.
func (t *TLS) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return t.cur.Load(), nil
		},
		// Never used (GetConfigForClient answers every handshake), but it
		// tells net/http the configuration has a certificate.
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return &t.cur.Load().Certificates[0], nil
		},
	}
}
