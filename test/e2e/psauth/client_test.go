package psauth

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/BeyondTrust/go-client-library-passwordsafe/api/authentication"
	"github.com/BeyondTrust/go-client-library-passwordsafe/api/session"
	"github.com/BeyondTrust/go-client-library-passwordsafe/api/utils"
	backoff "github.com/cenkalti/backoff/v4"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// memLog is the client's logger: it keeps every line, to be searched for secrets.
type memLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *memLog) add(s string)   { l.mu.Lock(); l.lines = append(l.lines, s); l.mu.Unlock() }
func (l *memLog) Info(s string)  { l.add(s) }
func (l *memLog) Error(s string) { l.add(s) }
func (l *memLog) Debug(s string) { l.add(s) }
func (l *memLog) Warn(s string)  { l.add(s) }

type registration struct {
	ID           string `json:"id"`
	Key          string `json:"key"`
	PSRUNSecret  string `json:"psrun_secret"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// btClient is BeyondTrust's HTTP client object, as its users build it:
// GetHttpClient with an optional PEM client certificate. The test CA is
// added to the roots it trusts (what an operator's trust store would do).
func btClient(t *testing.T, kw *keyward, log *memLog, certPEM, keyPEM string) *utils.HttpClientObj {
	t.Helper()
	hc, err := utils.GetHttpClient(10, true, certPEM, keyPEM, log)
	if err != nil {
		t.Fatal(err)
	}
	hc.HttpClient.Transport.(*http.Transport).TLSClientConfig.RootCAs = kw.ca.pool()
	return hc
}

func quickBackoff() *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.MaxElapsedTime = 2 * time.Second
	return b
}

func (kw *keyward) endpoint() string { return kw.url + "/BeyondTrust/api/public/v3/" }

func (kw *keyward) withKey(t *testing.T, hc *utils.HttpClientObj, log *memLog, apiKey string) *authentication.AuthenticationObj {
	t.Helper()
	a, err := authentication.AuthenticateUsingApiKey(authentication.AuthenticationParametersObj{HTTPClient: *hc,
		BackoffDefinition: quickBackoff(), EndpointURL: kw.endpoint(), APIVersion: "3.0", ApiKey: apiKey, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// version asks Configuration/Version with the client's cookie jar.
func (kw *keyward) version(t *testing.T, hc *utils.HttpClientObj) int {
	t.Helper()
	res, err := hc.HttpClient.Get(kw.endpoint() + "Configuration/Version")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

func want401(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "User not authenticated") {
		t.Fatalf("%s: %v, want a 401 \"User not authenticated\"", what, err)
	}
}

func TestBeyondTrustClient(t *testing.T) {
	ca := newCA(t, "keyward e2e CA")
	kw := start(t, ca)
	log := &memLog{}
	const svcPassword = "SVc-p@ss;word]1"
	var svc, mfaUser map[string]any
	kw.native(t, "POST", "/api/v1/users", map[string]any{"login": "svc", "kind": "user", "password": svcPassword,
		"email": "svc@example.com", "full_name": "Service Account"}, 201, &svc)
	kw.native(t, "POST", "/api/v1/users", map[string]any{"login": "mia", "kind": "user", "password": "MIa-passw0rd!"}, 201, &mfaUser)
	var enrol struct{ Seed string }
	kw.native(t, "POST", "/api/v1/users/"+mfaUser["id"].(string)+"/mfa", nil, 201, &enrol)
	totpCode := func(at time.Time) string {
		c, err := totp.GenerateCodeCustom(enrol.Seed, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	kw.native(t, "POST", "/api/v1/users/"+mfaUser["id"].(string)+"/mfa/verify", map[string]string{"code": totpCode(time.Now().Add(-30 * time.Second))}, 200, nil)

	rules := []map[string]string{{"type": "ip", "value": "127.0.0.0/8"}, {"type": "ip", "value": "::1"}}
	var plain, pwd, mfa, cert, oauth registration
	kw.native(t, "POST", "/api/v1/api-registrations", map[string]any{"name": "plain", "allowed": []string{"user:svc"}, "rules": rules}, 201, &plain)
	kw.native(t, "POST", "/api/v1/api-registrations", map[string]any{"name": "pwd", "allowed": []string{"user:svc"}, "rules": rules,
		"user_password_required": true}, 201, &pwd)
	kw.native(t, "POST", "/api/v1/api-registrations", map[string]any{"name": "mfa", "allowed": []string{"user:mia"}, "rules": rules}, 201, &mfa)
	kw.native(t, "POST", "/api/v1/api-registrations", map[string]any{"name": "cert", "allowed": []string{"user:svc"}, "rules": rules,
		"client_certificate_required": true}, 201, &cert)
	kw.native(t, "POST", "/api/v1/api-registrations", map[string]any{"name": "oauth", "type": "api_access_policy", "run_as": "svc",
		"access_token_minutes": 15, "rules": rules}, 201, &oauth)

	t.Run("api key, sign in and out", func(t *testing.T) {
		hc := btClient(t, kw, log, "", "")
		a := kw.withKey(t, hc, log, plain.Key+";runas=svc;")
		user, err := a.GetPasswordSafeAuthentication()
		if err != nil {
			t.Fatal(err)
		}
		if user.UserId <= 0 || user.UserName != "svc" || user.EmailAddress != "svc@example.com" || user.Name != "Service Account" {
			t.Fatalf("signed in as %+v", user)
		}
		if code := kw.version(t, hc); code != 200 {
			t.Fatalf("Configuration/Version in the session: %d", code)
		}
		if err := a.SignOut(); err != nil {
			t.Fatal(err)
		}
		if code := kw.version(t, hc); code != 401 {
			t.Fatalf("Configuration/Version after SignOut: %d", code)
		}
	})

	t.Run("wrong key", func(t *testing.T) {
		hc := btClient(t, kw, log, "", "")
		_, err := kw.withKey(t, hc, log, strings.Repeat("0", 128)+";runas=svc;").GetPasswordSafeAuthentication()
		want401(t, "wrong key", err)
		_, err = kw.withKey(t, hc, log, plain.Key+";runas=admin;").GetPasswordSafeAuthentication()
		want401(t, "runas not allowed", err)
	})

	t.Run("password", func(t *testing.T) {
		hc := btClient(t, kw, log, "", "")
		_, err := kw.withKey(t, hc, log, pwd.Key+";runas=svc;").GetPasswordSafeAuthentication()
		want401(t, "no pwd", err)
		_, err = kw.withKey(t, hc, log, pwd.Key+";runas=svc;pwd=[wrong];").GetPasswordSafeAuthentication()
		want401(t, "wrong pwd", err)
		user, err := kw.withKey(t, hc, log, pwd.Key+";runas=svc;pwd=["+svcPassword+"];").GetPasswordSafeAuthentication()
		if err != nil || user.UserName != "svc" {
			t.Fatalf("pwd=[…]: %+v %v", user, err)
		}
	})

	t.Run("mfa challenge on the same client", func(t *testing.T) {
		hc := btClient(t, kw, log, "", "")
		_, err := kw.withKey(t, hc, log, mfa.Key+";runas=mia;").GetPasswordSafeAuthentication()
		want401(t, "no challenge", err)
		// The same client (its cookie jar holds the pending session) sends the code.
		user, err := kw.withKey(t, hc, log, mfa.Key+";runas=mia;challenge="+totpCode(time.Now())+";").GetPasswordSafeAuthentication()
		if err != nil || user.UserName != "mia" {
			t.Fatalf("challenge: %+v %v", user, err)
		}
		_, err = kw.withKey(t, hc, log, mfa.Key+";runas=mia;challenge=000000;").GetPasswordSafeAuthentication()
		want401(t, "wrong code", err)
		// The header BeyondTrust's PowerShell sample waits for.
		req, _ := http.NewRequest("POST", kw.endpoint()+"Auth/SignAppIn", nil)
		req.Header.Set("Authorization", "PS-Auth key="+mfa.Key+"; runas=mia;")
		res, err := kw.admin.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 401 || res.Header.Get("WWW-Authenticate-2FA") == "" || !strings.Contains(res.Header.Get("Set-Cookie"), "ASP.NET_SessionId=") ||
			!strings.Contains(res.Header.Get("Set-Cookie"), "Secure") {
			t.Fatalf("challenge answer: %d %v", res.StatusCode, res.Header)
		}
	})

	t.Run("pem client certificate", func(t *testing.T) {
		noCert := btClient(t, kw, log, "", "")
		_, err := kw.withKey(t, noCert, log, cert.Key+";runas=svc;").GetPasswordSafeAuthentication()
		want401(t, "no certificate", err)
		certPEM, keyPEM := ca.issue(t, "svc-client", false)
		withCert := btClient(t, kw, log, certPEM, keyPEM)
		user, err := kw.withKey(t, withCert, log, cert.Key+";runas=svc;").GetPasswordSafeAuthentication()
		if err != nil || user.UserName != "svc" {
			t.Fatalf("with a certificate of --client-ca: %+v %v", user, err)
		}
		otherPEM, otherKey := newCA(t, "another CA").issue(t, "svc-client", false)
		other := btClient(t, kw, log, otherPEM, otherKey)
		_, err = kw.withKey(t, other, log, cert.Key+";runas=svc;").GetPasswordSafeAuthentication()
		if err == nil {
			t.Fatal("a certificate of another CA signed in")
		}
	})

	t.Run("rotation", func(t *testing.T) {
		hc := btClient(t, kw, log, "", "")
		if _, err := kw.withKey(t, hc, log, plain.Key+";runas=svc;").GetPasswordSafeAuthentication(); err != nil {
			t.Fatal(err)
		}
		var rot registration
		kw.native(t, "POST", "/api/v1/api-registrations/"+plain.ID+"/rotate", nil, 200, &rot)
		if code := kw.version(t, hc); code != 401 {
			t.Fatalf("session after rotation: %d", code)
		}
		_, err := kw.withKey(t, hc, log, plain.Key+";runas=svc;").GetPasswordSafeAuthentication()
		want401(t, "old key", err)
		if _, err := kw.withKey(t, hc, log, rot.Key+";runas=svc;").GetPasswordSafeAuthentication(); err != nil {
			t.Fatalf("new key: %v", err)
		}
		plain.Key = rot.Key
	})

	t.Run("oauth client credentials", func(t *testing.T) {
		hc := btClient(t, kw, log, "", "")
		a, err := authentication.Authenticate(authentication.AuthenticationParametersObj{HTTPClient: *hc, BackoffDefinition: quickBackoff(),
			EndpointURL: kw.endpoint(), APIVersion: "3.0", ClientID: oauth.ClientID, ClientSecret: oauth.ClientSecret, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		user, err := a.GetPasswordSafeAuthentication()
		if err != nil || user.UserName != "svc" {
			t.Fatalf("client credentials sign-in: %+v %v", user, err)
		}
		details, err := a.GetTokenDetails(kw.endpoint()+"Auth/connect/token", oauth.ClientID, oauth.ClientSecret)
		if err != nil || details.ExpiresIn != 15*60 || details.TokenType != "Bearer" || details.Scope != "publicapi" || details.AccessToken == "" {
			t.Fatalf("GetTokenDetails: %+v %v", details, err)
		}
		if _, err := a.GetTokenDetails(kw.endpoint()+"Auth/connect/token", oauth.ClientID, "wrong"); err == nil || !strings.Contains(err.Error(), "invalid_client") {
			t.Fatalf("wrong secret: %v", err)
		}
		s, err := session.NewSessionFromToken(context.Background(), details.AccessToken, session.Parameters{HTTPClient: *btClient(t, kw, log, "", ""),
			BackoffDefinition: quickBackoff(), EndpointURL: kw.endpoint(), Logger: log})
		if err != nil {
			t.Fatalf("NewSessionFromToken: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := session.NewSessionFromToken(context.Background(), "not-a-token", session.Parameters{HTTPClient: *btClient(t, kw, log, "", ""),
			BackoffDefinition: quickBackoff(), EndpointURL: kw.endpoint(), Logger: log}); err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("unknown token: %v", err)
		}
	})

	// Neither keyward's logs nor the client's hold a secret this scenario made.
	logs := kw.logs.String() + strings.Join(log.lines, "\n")
	for name, s := range map[string]string{"plain key": plain.Key, "pwd key": pwd.Key, "mfa key": mfa.Key, "cert key": cert.Key,
		"psrun secret": plain.PSRUNSecret, "client secret": oauth.ClientSecret, "password": svcPassword, "seed": enrol.Seed} {
		if strings.Contains(logs, s) {
			t.Errorf("the logs hold the %s", name)
		}
	}
}
