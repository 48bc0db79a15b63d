package iam_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/authn/iam"
	"github.com/keyward/keyward/internal/authn/iam/iamtest"
)

// amzDate finds the start of the X-Amz-Date value in a JSON credential.
var amzDate = regexp.MustCompile(`(?i)("x-amz-date":")`)

func TestVerify(t *testing.T) {
	sts := iamtest.Start(t, "011915987442", "MyApp")
	a, err := iam.New(authn.Config{ServiceID: "prod", Values: map[string]string{"sts-endpoint": sts.URL}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	good := iamtest.SignedHeaders(t, sts.Credentials(), "sts.amazonaws.com", "us-east-1", now)
	regional := iamtest.SignedHeaders(t, sts.Credentials(), "sts.eu-west-1.amazonaws.com", "eu-west-1", now)
	wrongSecret := sts.Credentials()
	wrongSecret.SecretAccessKey = "guess"
	forged := iamtest.SignedHeaders(t, wrongSecret, "sts.amazonaws.com", "us-east-1", now)
	stale := iamtest.SignedHeaders(t, sts.Credentials(), "sts.amazonaws.com", "us-east-1", now.Add(-time.Hour))
	unknownKey := iamtest.SignedHeaders(t, aws.Credentials{AccessKeyID: "AKIAOTHER", SecretAccessKey: "x", SessionToken: sts.SessionToken}, "sts.amazonaws.com", "us-east-1", now)
	extraSigned := strings.Replace(good, "SignedHeaders=", "SignedHeaders=x-evil;", 1)
	extraSigned = strings.Replace(extraSigned, `{`, `{"x-evil":"1",`, 1)

	cases := []struct {
		name, login, cred string
		want              authn.Outcome
	}{
		{"good", "host/aws/011915987442/MyApp", good, authn.OK},
		{"regional", "host/aws/011915987442/MyApp", regional, authn.OK},
		{"short prefix", "host/011915987442/MyApp", good, authn.OK},
		{"other role", "host/aws/011915987442/OtherRole", good, authn.Bad},
		{"other account", "host/aws/999999999999/MyApp", good, authn.Bad},
		{"wrong secret (403)", "host/aws/011915987442/MyApp", forged, authn.Bad},
		{"stale signature", "host/aws/011915987442/MyApp", stale, authn.Bad},
		{"unknown key", "host/aws/011915987442/MyApp", unknownKey, authn.Bad},
		{"tampered host", "host/aws/011915987442/MyApp", strings.Replace(good, `"host":"sts.amazonaws.com"`, `"host":"sts.us-west-2.amazonaws.com"`, 1), authn.Bad},
		{"non-permitted signed header", "host/aws/011915987442/MyApp", extraSigned, authn.Bad},
		{"not JSON", "host/aws/011915987442/MyApp", "Authorization: x", authn.Bad},
		{"no SignedHeaders", "host/aws/011915987442/MyApp", `{"authorization":"AWS4-HMAC-SHA256 x"}`, authn.Bad},
		{"no login", "", good, authn.Bad},
		{"newline in a signed header", "host/aws/011915987442/MyApp", amzDate.ReplaceAllString(good, `$1\n`), authn.Bad},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, o, err := a.Verify(context.Background(), authn.Request{Login: tc.login, Credential: tc.cred})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if o != tc.want {
				t.Fatalf("outcome %v (%s), want %v", o, id.Reason, tc.want)
			}
			if o == authn.OK && (id.Login != tc.login || id.Claims["arn"] != sts.ARN) {
				t.Fatalf("identity %+v", id)
			}
		})
	}
	if sts.Calls() == 0 {
		t.Fatal("STS stand-in never called")
	}
}

func TestUnreachableIsError(t *testing.T) {
	sts := iamtest.Start(t, "011915987442", "MyApp")
	a, err := iam.New(authn.Config{Values: map[string]string{"sts-endpoint": "http://127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	cred := iamtest.SignedHeaders(t, sts.Credentials(), "sts.amazonaws.com", "us-east-1", time.Now())
	if _, _, err := a.Verify(context.Background(), authn.Request{Login: "host/a/011915987442/MyApp", Credential: cred}); err == nil {
		t.Fatal("want error when STS unreachable")
	}
}

func TestDefaultEndpointRefusesForeignHost(t *testing.T) {
	a, err := iam.New(authn.Config{Values: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	sts := iamtest.Start(t, "1", "r")
	cred := iamtest.SignedHeaders(t, sts.Credentials(), "evil.example.com", "us-east-1", time.Now())
	if _, o, err := a.Verify(context.Background(), authn.Request{Login: "host/a/1/r", Credential: cred}); err != nil || o != authn.Bad {
		t.Fatalf("foreign host: %v %v, want Bad without a call", o, err)
	}
}

func TestConfigErrors(t *testing.T) {
	_, err := iam.New(authn.Config{Values: map[string]string{"sts-endpoint": "sts.amazonaws.com", "region": "x"}})
	var ce authn.ConfigErrors
	if !errors.As(err, &ce) || len(ce) != 2 || ce[0].Key != "region" || ce[1].Key != "sts-endpoint" {
		t.Fatalf("err = %v", err)
	}
}
