package argussig_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward/pkg/argussig"
)

var update = flag.Bool("update", false, "rewrite testdata/argus/signature-vectors.json")

var vectorsFile = filepath.Join("..", "..", "testdata", "argus", "signature-vectors.json")

type vectorFile struct {
	Scheme  string   `json:"scheme"`
	Vectors []vector `json:"vectors"`
}

type vector struct {
	Name       string `json:"name"`
	Alg        string `json:"alg"`
	PublicKey  string `json:"publicKey"`
	PrivateKey string `json:"privateKey"`
	Method     string `json:"method"`
	Path       string `json:"path"`
	Query      string `json:"query"`
	Body       string `json:"body"`
	KeyID      string `json:"keyId"`
	TS         int64  `json:"ts"`
	Nonce      string `json:"nonce"`
	Canonical  string `json:"canonical"`
	Header     string `json:"header"`
	Valid      bool   `json:"valid"`
}

// TestSignatureVectors checks every vector of the published file against
// this package: its canonical bytes are Canonical of its fields, its
// header parses to its fields, its key pair matches, its sig verifies over
// canonical exactly when valid says so, and an Ed25519 sig is the
// (deterministic) signature of canonical with its private key.
func TestSignatureVectors(t *testing.T) {
	if *update {
		writeVectors(t)
	}
	b, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f vectorFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if f.Scheme != argussig.Scheme {
		t.Fatalf("scheme %q", f.Scheme)
	}
	seen := map[string]bool{}
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			pub, err := argussig.ParsePublicKey(v.PublicKey)
			if err != nil {
				t.Fatalf("publicKey: %v", err)
			}
			if pub.Alg != v.Alg {
				t.Fatalf("publicKey alg %s, vector says %s", pub.Alg, v.Alg)
			}
			priv := parsePrivate(t, v.PrivateKey)
			pder, _ := x509.MarshalPKIXPublicKey(priv.Public())
			if !bytes.Equal(pder, pub.DER) {
				t.Fatal("privateKey does not match publicKey")
			}
			canon := argussig.Canonical(argussig.Request{Method: v.Method, Path: v.Path, Query: v.Query, Body: []byte(v.Body)},
				v.KeyID, v.Alg, v.TS, v.Nonce)
			if string(canon) != v.Canonical {
				t.Fatalf("canonical:\n got  %q\n file %q", canon, v.Canonical)
			}
			h, err := argussig.ParseHeader(v.Header)
			if err != nil {
				t.Fatalf("header: %v", err)
			}
			if h.KeyID != v.KeyID || h.Alg != v.Alg || h.TS != v.TS || h.Nonce != v.Nonce {
				t.Fatalf("header %+v disagrees with the vector's fields", h)
			}
			if got := argussig.Verify(pub.Key, v.Alg, []byte(v.Canonical), h.Sig); got != v.Valid {
				t.Fatalf("verify = %v, file says valid %v", got, v.Valid)
			}
			if v.Alg == argussig.AlgEd25519 && v.Valid {
				want := ed25519.Sign(priv.(ed25519.PrivateKey), []byte(v.Canonical))
				if !bytes.Equal(want, h.Sig) {
					t.Fatal("Ed25519 sig is not the signature of canonical with privateKey")
				}
			}
			if v.Valid {
				seen[v.Alg] = true
				if v.Query != "" {
					seen["query"] = true
				}
				if v.Body != "" {
					seen["body"] = true
				}
			} else {
				seen["invalid"] = true
			}
		})
	}
	for _, want := range []string{argussig.AlgEd25519, argussig.AlgECDSAP256, argussig.AlgRSAPSS, "query", "body", "invalid"} {
		if !seen[want] {
			t.Errorf("the file has no vector covering %s", want)
		}
	}
}

func parsePrivate(t *testing.T, text string) crypto.Signer {
	t.Helper()
	block, _ := pem.Decode([]byte(text))
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatal("privateKey is not a PEM PRIVATE KEY block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(crypto.Signer)
}

// writeVectors makes the file anew (go test -run TestSignatureVectors -update).
func writeVectors(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	edKey := ed25519.NewKeyFromSeed(seed)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	body := `{"description":"ci","expirationDays":30}`
	type spec struct {
		name, method, path, query, body, nonce string
		key                                    crypto.Signer
		keyID                                  string
		tamper                                 bool
	}
	const ts = 1765130400000 // 2025-12-07T18:00:00Z
	specs := []spec{
		{"ed25519-get", "GET", "/authentication/v1/user/alice/apikey", "", "", "c2FtcGxlLW5vbmNlLTAx", edKey, "u7x2kq/sk1", false},
		{"ed25519-query", "GET", "/authentication/v1/user/alice/apikey", "limit=10&offset=0", "", "c2FtcGxlLW5vbmNlLTAy", edKey, "u7x2kq/sk1", false},
		{"ed25519-body", "POST", "/authentication/v1/user/alice/apikey", "", body, "c2FtcGxlLW5vbmNlLTAz", edKey, "u7x2kq/sk1", false},
		{"ecdsa-p256-body", "POST", "/authentication/v1/user/alice/apikey", "", body, "c2FtcGxlLW5vbmNlLTA0", ecKey, "u7x2kq/sk2", false},
		{"rsa-pss-query", "GET", "/authentication/v1/user/alice/signature", "limit=5", "", "c2FtcGxlLW5vbmNlLTA1", rsaKey, "u7x2kq/sk3", false},
		{"ed25519-changed-body-invalid", "POST", "/authentication/v1/user/alice/apikey", "", body + " ", "c2FtcGxlLW5vbmNlLTA2", edKey, "u7x2kq/sk1", true},
		{"rsa-pss-bad-sig-invalid", "DELETE", "/authentication/v1/user/alice/apikey/u7x2kq/k1", "", "", "c2FtcGxlLW5vbmNlLTA3", rsaKey, "u7x2kq/sk3", true},
	}
	f := vectorFile{Scheme: argussig.Scheme}
	for _, s := range specs {
		sg, err := argussig.NewSigner(s.keyID, s.key)
		if err != nil {
			t.Fatal(err)
		}
		req := argussig.Request{Method: s.method, Path: s.path, Query: s.query, Body: []byte(s.body)}
		signed := req
		if s.tamper && sg.Alg() == argussig.AlgEd25519 {
			signed.Body = []byte(body) // signed over the original body; the vector's body differs
		}
		hv, err := sg.SignAt(signed, ts, s.nonce)
		if err != nil {
			t.Fatal(err)
		}
		if s.tamper && sg.Alg() != argussig.AlgEd25519 {
			h, _ := argussig.ParseHeader(hv)
			h.Sig[len(h.Sig)/2] ^= 0x40
			hv = h.String()
		}
		pubDER, _ := x509.MarshalPKIXPublicKey(s.key.Public())
		privDER, _ := x509.MarshalPKCS8PrivateKey(s.key)
		f.Vectors = append(f.Vectors, vector{Name: s.name, Alg: sg.Alg(),
			PublicKey:  string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})),
			PrivateKey: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})),
			Method:     s.method, Path: s.path, Query: s.query, Body: s.body, KeyID: s.keyID, TS: ts, Nonce: s.nonce,
			Canonical: string(argussig.Canonical(req, s.keyID, sg.Alg(), ts, s.nonce)), Header: hv, Valid: !s.tamper})
	}
	out, _ := json.MarshalIndent(f, "", "  ")
	if err := os.WriteFile(vectorsFile, append(out, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
