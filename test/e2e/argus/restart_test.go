package argus

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/pkg/argussig"
)

// TestReplayAfterRestart (review 22 F1): a signed request used before
// keyward serve restarts on the same (SQLite) data folder is a replay after
// it: 401 authentication.signature.replay, and no second key is made.
func TestReplayAfterRestart(t *testing.T) {
	kw := start(t)
	bob := mfaUser(t, kw, "bob", "acme-us")
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	var sk envelope[struct {
		KeyID string `json:"keyId"`
	}]
	if st := kw.call(t, "POST", "/authentication/v1/user/bob/signature", map[string]any{"publicKey": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))},
		&sk, bob.strong...); st != 200 {
		t.Fatalf("enrol: %d", st)
	}
	signer, err := argussig.NewSigner(sk.Data.KeyID, priv)
	if err != nil {
		t.Fatal(err)
	}
	const path, body = "/authentication/v1/user/bob/apikey", `{"description":"signed before the restart"}`
	req, _ := http.NewRequest("POST", kw.url+path, strings.NewReader(body))
	if err := signer.SignRequest(req); err != nil {
		t.Fatal(err)
	}
	signed := req.Header.Get("Argus-Signature")
	var minted envelope[struct {
		APIKey string `json:"apiKey"`
	}]
	if st := kw.send(t, req, &minted); st != 200 || minted.Data.APIKey == "" {
		t.Fatalf("signed create: %d %+v", st, minted)
	}

	kw.restart(t)

	replay, _ := http.NewRequest("POST", kw.url+path, strings.NewReader(body))
	replay.Header.Set("Argus-Signature", signed)
	var refused envelope[struct {
		APIKey string `json:"apiKey"`
	}]
	if st := kw.send(t, replay, &refused); st != 401 || len(refused.Messages) == 0 ||
		refused.Messages[0].MessageTemplate != "authentication.signature.replay" || refused.Data.APIKey != "" {
		t.Fatalf("replay after restart: %d %+v", st, refused)
	}
	var keys envelope[[]struct {
		Description string `json:"description"`
	}]
	if st := kw.call(t, "GET", path, nil, &keys, bob.strong...); st != 200 || len(keys.Data) != 1 {
		t.Fatalf("bob's keys after the replay: %d %+v, want the one made before the restart", st, keys)
	}
	// A request signed now (new nonce) is still accepted after the restart.
	fresh, _ := http.NewRequest("GET", kw.url+path, nil)
	if err := signer.SignRequest(fresh); err != nil {
		t.Fatal(err)
	}
	if st := kw.send(t, fresh, nil); st != 200 {
		t.Fatalf("a fresh signed request after the restart: %d", st)
	}
}
