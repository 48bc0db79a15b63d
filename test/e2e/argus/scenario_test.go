package argus

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/keyward/keyward/pkg/argussig"
)

// call sends a JSON request with headers (name, value pairs) and decodes
// the answer into out (nil: ignore); it returns the status.
func (kw *keyward) call(t *testing.T, method, path string, body any, out any, headers ...string) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, kw.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return kw.send(t, req, out)
}

func (kw *keyward) send(t *testing.T, req *http.Request, out any) int {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", req.Method, req.URL.Path, res.StatusCode, b, err)
		}
	}
	return res.StatusCode
}

type envelope[T any] struct {
	ResponseCode int `json:"responseCode"`
	Messages     []struct {
		MessageTemplate string `json:"messageTemplate"`
	} `json:"messages"`
	Data T `json:"data"`
}

// TestArgusScenario: a user with TOTP gets a level-3 session, creates a
// constrained API key and enrols an Ed25519 key; the API key reads but
// cannot mint; a signed request mints; a replay is refused; nothing
// secret reaches the logs.
func TestArgusScenario(t *testing.T) {
	// The logs are searched once serve has stopped (this cleanup runs after start's).
	var secrets []string
	var kw *keyward
	t.Cleanup(func() {
		logs := kw.logs.String()
		for _, secret := range secrets {
			if secret != "" && strings.Contains(logs, secret) {
				t.Errorf("a secret reached the logs: %.12s…", secret)
			}
		}
	})
	kw = start(t)
	alice := mfaUser(t, kw, "alice", "acme-eu")
	strong := alice.strong
	var key envelope[struct {
		ID     string `json:"id"`
		APIKey string `json:"apiKey"`
	}]
	if st := kw.call(t, "POST", "/authentication/v1/user/alice/apikey", map[string]any{"description": "ci", "validSources": "127.0.0.1",
		"expirationDays": 30, "sessionConstraints": map[string]any{"customer": []string{"acme-eu"}}}, &key, strong...); st != 200 || key.Data.APIKey == "" {
		t.Fatalf("create key: %d %+v", st, key)
	}
	withKey := []string{"Argus-API-Key", key.Data.APIKey}
	if st := kw.call(t, "GET", "/authentication/v1/user/alice/apikey", nil, nil, withKey...); st != 200 {
		t.Fatalf("list with the key: %d", st)
	}
	var refused envelope[any]
	if st := kw.call(t, "POST", "/authentication/v1/user/alice/apikey", map[string]any{}, &refused, withKey...); st != 403 ||
		refused.Messages[0].MessageTemplate != "authorization.securitylevel" {
		t.Fatalf("an API key minted: %d %+v", st, refused)
	}

	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	var sk envelope[struct {
		KeyID string `json:"keyId"`
	}]
	if st := kw.call(t, "POST", "/authentication/v1/user/alice/signature", map[string]any{"publicKey": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))},
		&sk, strong...); st != 200 {
		t.Fatalf("enrol: %d", st)
	}
	signer, err := argussig.NewSigner(sk.Data.KeyID, priv)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", kw.url+"/authentication/v1/user/alice/apikey?via=signature", strings.NewReader(`{"description":"signed"}`))
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
	replay, _ := http.NewRequest("POST", kw.url+"/authentication/v1/user/alice/apikey?via=signature", strings.NewReader(`{"description":"signed"}`))
	replay.Header.Set("Argus-Signature", signed)
	if st := kw.send(t, replay, &refused); st != 401 || refused.Messages[0].MessageTemplate != "authentication.signature.replay" {
		t.Fatalf("replay: %d %+v", st, refused)
	}

	secrets = []string{key.Data.APIKey, strings.Split(key.Data.APIKey, "/")[2], minted.Data.APIKey, alice.password, alice.seed,
		alice.token, kw.adminKey}
}

// user is a user with TOTP enrolled and a level-3 Argus session.
type user struct {
	id, password, seed, token string
	strong                    []string // the session's Authorization header
}

// mfaUser creates login (with customer, if any) as the admin, enrols and
// verifies TOTP, and opens a TOTP session through Argus.
func mfaUser(t *testing.T, kw *keyward, login, customer string) user {
	t.Helper()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if kw.call(t, "POST", "/api/v1/token", map[string]any{"api_key": kw.adminKey}, &tok) != 200 {
		t.Fatal("admin token")
	}
	admin := []string{"Authorization", "Bearer " + tok.AccessToken}
	const password = "Correct-Horse-9!Battery"
	var u struct {
		ID string `json:"id"`
	}
	if kw.call(t, "POST", "/api/v1/users", map[string]any{"login": login, "password": password, "customer": customer}, &u, admin...) != 201 {
		t.Fatal("create user")
	}
	var enrol struct {
		Seed string `json:"seed"`
	}
	kw.call(t, "POST", "/api/v1/users/"+u.ID+"/mfa", nil, &enrol, admin...)
	code := func(at time.Time) string {
		c, _ := totp.GenerateCodeCustom(enrol.Seed, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		return c
	}
	if kw.call(t, "POST", "/api/v1/users/"+u.ID+"/mfa/verify", map[string]any{"code": code(time.Now())}, nil, admin...) != 200 {
		t.Fatal("verify MFA")
	}
	var sess envelope[struct {
		SecurityLevel int `json:"securityLevel"`
		Credentials   struct {
			RequestCredentialsData string `json:"requestCredentialsData"`
		} `json:"credentials"`
	}]
	if st := kw.call(t, "POST", "/authentication/v1/totp/authentication", map[string]any{"userName": login, "password": password,
		"tokenCode": code(time.Now().Add(30 * time.Second))}, &sess); st != 200 || sess.Data.SecurityLevel != 3 {
		t.Fatalf("TOTP session: %d %+v", st, sess)
	}
	return user{id: u.ID, password: password, seed: enrol.Seed, token: sess.Data.Credentials.RequestCredentialsData,
		strong: []string{"Authorization", "Bearer " + sess.Data.Credentials.RequestCredentialsData}}
}
