// Package iamtest runs an AWS STS stand-in for tests that checks SigV4 signatures with a known key and answers GetCallerIdentity.
package iamtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// emptySHA256 is the payload hash of a GET request.
var emptySHA256 = hex.EncodeToString(func() []byte { s := sha256.Sum256(nil); return s[:] }())

// STS is a running stand-in. Requests signed with AccessKeyID and
// SecretAccessKey get a GetCallerIdentity answer naming ARN and Account;
// anything else gets 403 SignatureDoesNotMatch, as STS answers.
type STS struct {
	URL             string
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Account         string
	ARN             string

	calls atomic.Int64
}

// Start runs the stand-in for the test, for the assumed role
// arn:aws:sts::<account>:assumed-role/<role>/i-0123456789.
func Start(t testing.TB, account, role string) *STS {
	t.Helper()
	s := &STS{
		AccessKeyID: "ASIAKEYWARDTEST", SecretAccessKey: "keyward-test-secret", SessionToken: "keyward-session-token",
		Account: account, ARN: fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/i-0123456789", account, role),
	}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Calls counts requests received.
func (s *STS) Calls() int { return int(s.calls.Load()) }

// Credentials are the stand-in's known credentials.
func (s *STS) Credentials() aws.Credentials {
	return aws.Credentials{AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey, SessionToken: s.SessionToken}
}

// SignedHeaders signs GET https://<host>/?Action=GetCallerIdentity&Version=2011-06-15
// with creds for region at time at, and returns the headers as the JSON
// object authn-iam takes as its credential. host is sts.amazonaws.com for
// the global endpoint, sts.<region>.amazonaws.com otherwise.
func SignedHeaders(t testing.TB, creds aws.Credentials, host, region string, at time.Time) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "https://"+host+"/?Action=GetCallerIdentity&Version=2011-06-15", nil)
	if err != nil {
		t.Fatalf("iamtest: %v", err)
	}
	req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, emptySHA256, "sts", region, at); err != nil {
		t.Fatalf("iamtest: sign: %v", err)
	}
	h := map[string]string{"host": host}
	for k := range req.Header {
		h[strings.ToLower(k)] = req.Header.Get(k)
	}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatalf("iamtest: %v", err)
	}
	return string(b)
}

var scopeRE = regexp.MustCompile(`Credential=([^/]+)/(\d{8})/([^/]+)/sts/aws4_request`)

func (s *STS) serve(w http.ResponseWriter, r *http.Request) {
	s.calls.Add(1)
	if err := s.check(r); err != nil {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>%s</Message></Error><RequestId>0</RequestId></ErrorResponse>`, err)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>%s</Arn>
    <UserId>AROAEXAMPLE:i-0123456789</UserId>
    <Account>%s</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>`, s.ARN, s.Account)
}

// check recomputes the SigV4 signature over what arrived (method, the Host
// header, path, query and signed headers) with the known secret.
func (s *STS) check(r *http.Request) error {
	if r.URL.Query().Get("Action") != "GetCallerIdentity" {
		return fmt.Errorf("unsupported action")
	}
	auth := r.Header.Get("Authorization")
	m := scopeRE.FindStringSubmatch(auth)
	if m == nil || m[1] != s.AccessKeyID {
		return fmt.Errorf("unknown access key or malformed authorization")
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("bad X-Amz-Date")
	}
	if d := time.Since(at); d > 15*time.Minute || d < -15*time.Minute {
		return fmt.Errorf("signature expired")
	}
	if r.Header.Get("X-Amz-Security-Token") != s.SessionToken {
		return fmt.Errorf("invalid security token")
	}
	re, err := http.NewRequest(r.Method, "https://"+r.Host+r.URL.RequestURI(), nil)
	if err != nil {
		return err
	}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		payload = emptySHA256
	}
	re.Header.Set("X-Amz-Content-Sha256", payload)
	if err := v4.NewSigner().SignHTTP(context.Background(), s.Credentials(), re, payload, "sts", m[3], at); err != nil {
		return err
	}
	if re.Header.Get("Authorization") != auth {
		return fmt.Errorf("the request signature we calculated does not match the signature you provided")
	}
	return nil
}
