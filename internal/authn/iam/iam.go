// Package iam authenticates AWS workloads for Conjur's authn-iam by forwarding their signed STS GetCallerIdentity request and matching the answer to the host.
package iam

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/authn"
)

// Type is the authenticator type this package implements.
const Type = "authn-iam"

// KeySTSEndpoint overrides where signed requests are sent.
const KeySTSEndpoint = "sts-endpoint"

// DefaultSTSEndpoint is AWS's global STS endpoint. With it, requests are
// sent to the regional endpoint the signed host header names, as Conjur does.
const DefaultSTSEndpoint = "https://sts.amazonaws.com"

const getCallerIdentity = "/?Action=GetCallerIdentity&Version=2011-06-15"

// allowedHeaders are the headers Conjur forwards; a signature over any
// other header is refused.
var allowedHeaders = []string{"host", "authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"}

var (
	signedHeadersRE = regexp.MustCompile(`SignedHeaders=([A-Za-z0-9;_-]+)`)
	regionalHostRE  = regexp.MustCompile(`^sts\.([a-z]{2}(-gov)?-[a-z]+-\d)\.amazonaws\.com$`)
)

// Authenticator checks signed STS requests for one authn-iam service.
type Authenticator struct {
	serviceID string
	endpoint  string // "" means AWS, chosen by the signed host
	client    *http.Client
}

var _ authn.Authenticator = (*Authenticator)(nil)

// New builds an authn-iam authenticator, reporting every bad value at once.
func New(cfg authn.Config) (authn.Authenticator, error) {
	errs := authn.UnknownKeys(cfg.Values, KeySTSEndpoint)
	a := &Authenticator{serviceID: cfg.ServiceID, client: cfg.HTTPClient}
	if a.client == nil {
		a.client = &http.Client{Timeout: 10 * time.Second}
	}
	if e := cfg.Values[KeySTSEndpoint]; e != "" && e != DefaultSTSEndpoint {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, authn.ConfigError{Key: KeySTSEndpoint, Msg: fmt.Sprintf("not an absolute http(s) URL: %q", e)})
		}
		a.endpoint = strings.TrimRight(e, "/")
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return a, nil
}

// Verify forwards the signed headers in req.Credential (a JSON object of
// header names to values, Conjur's body) as GetCallerIdentity to STS and
// accepts req.Login when it is host/<prefix>/<account-id>/<role-name> for
// the account and role of the returned ARN.
func (a *Authenticator) Verify(ctx context.Context, req authn.Request) (authn.Identity, authn.Outcome, error) {
	id := authn.Identity{}
	if req.Login == "" {
		id.Reason = "no login in the route"
		return id, authn.Bad, nil
	}
	headers, why := signedHeaders(req.Credential)
	if why != "" {
		id.Reason = why
		return id, authn.Bad, nil
	}
	target := a.endpoint
	if target == "" {
		host := headers["host"]
		if host != "sts.amazonaws.com" && !regionalHostRE.MatchString(host) {
			id.Reason = fmt.Sprintf("signed host %q is not an AWS STS endpoint", host)
			return id, authn.Bad, nil
		}
		target = "https://" + host
	}
	arn, account, status, err := a.callerIdentity(ctx, target, headers)
	if err != nil {
		return id, authn.Bad, fmt.Errorf("authn-iam %s: %w", a.serviceID, err)
	}
	if status != http.StatusOK {
		id.Reason = fmt.Sprintf("STS refused the signed request (status %d)", status)
		return id, authn.Bad, nil
	}
	id.Claims = map[string]any{"arn": arn, "account": account}
	parts := strings.Split(arn, ":")
	if len(parts) < 6 || len(strings.Split(parts[5], "/")) < 2 {
		id.Reason = fmt.Sprintf("STS returned an ARN without a role: %q", arn)
		return id, authn.Bad, nil
	}
	role := strings.Split(parts[5], "/")[1]
	segs := strings.Split(req.Login, "/")
	if len(segs) < 3 {
		id.Reason = "login is not host/.../<account-id>/<role-name>"
		return id, authn.Bad, nil
	}
	want := strings.Join(append(segs[:len(segs)-2:len(segs)-2], account, role), "/")
	if req.Login != want {
		id.Reason = fmt.Sprintf("login does not match the caller (%s)", want)
		return id, authn.Bad, nil
	}
	id.Login = req.Login
	return id, authn.OK, nil
}

// signedHeaders parses Conjur's JSON of signed headers, keeping the
// allowed ones, and checks the signature covers only allowed headers that
// are all present.
func signedHeaders(credential string) (map[string]string, string) {
	var raw map[string]any
	if err := json.Unmarshal([]byte(credential), &raw); err != nil {
		return nil, "credential is not a JSON object of headers"
	}
	in := map[string]string{}
	for k, v := range raw {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Sprintf("header %q is not a string", k)
		}
		in[strings.ToLower(k)] = s
	}
	m := signedHeadersRE.FindStringSubmatch(in["authorization"])
	if m == nil {
		return nil, "authorization header names no SignedHeaders"
	}
	out := map[string]string{}
	for _, h := range strings.Split(strings.ToLower(m[1]), ";") {
		if _, ok := in[h]; !ok {
			return nil, fmt.Sprintf("signed header %q is missing", h)
		}
		allowed := false
		for _, a := range allowedHeaders {
			allowed = allowed || a == h
		}
		if !allowed {
			return nil, fmt.Sprintf("signed header %q is not permitted", h)
		}
	}
	for _, h := range allowedHeaders {
		if v, ok := in[h]; ok {
			if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				// A header value net/http would refuse to send: the
				// caller's fault, not STS being unreachable.
				return nil, fmt.Sprintf("header %q holds a control character", h)
			}
			out[h] = v
		}
	}
	return out, ""
}

type callerIdentityResponse struct {
	Arn     string `xml:"GetCallerIdentityResult>Arn"`
	Account string `xml:"GetCallerIdentityResult>Account"`
}

// callerIdentity sends the signed GET to target and returns the ARN and
// account on 200, the status on a 4xx refusal, and an error otherwise.
func (a *Authenticator) callerIdentity(ctx context.Context, target string, headers map[string]string) (string, string, int, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, target+getCallerIdentity, nil)
	if err != nil {
		return "", "", 0, fmt.Errorf("build STS request: %w", err)
	}
	for k, v := range headers {
		if k == "host" {
			hr.Host = v // the signature covers the host the client signed for
			continue
		}
		hr.Header.Set(k, v)
	}
	resp, err := a.client.Do(hr)
	if err != nil {
		return "", "", 0, fmt.Errorf("call STS: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", "", 0, fmt.Errorf("read STS response: %w", err)
	}
	switch {
	case resp.StatusCode >= 500:
		return "", "", 0, fmt.Errorf("STS status %d", resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return "", "", resp.StatusCode, nil
	}
	var r callerIdentityResponse
	if err := xml.Unmarshal(body, &r); err != nil || r.Arn == "" || r.Account == "" {
		return "", "", 0, fmt.Errorf("STS answered 200 without an Arn and Account")
	}
	return r.Arn, r.Account, http.StatusOK, nil
}
