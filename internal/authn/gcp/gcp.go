// Package gcp verifies Google Cloud identity tokens for Conjur's authn-gcp authenticator and checks hosts' authn-gcp annotations.
package gcp

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/authn/jwks"
)

// Type is the authenticator type this package implements.
const Type = "authn-gcp"

// Configuration keys. Conjur fixes both values; keyward lets them be overridden.
const (
	KeyIssuer  = "issuer"
	KeyJWKSURI = "jwks-uri"
)

// Google's issuer and signing keys, the defaults.
const (
	DefaultIssuer  = "https://accounts.google.com"
	DefaultJWKSURI = "https://www.googleapis.com/oauth2/v3/certs"
)

// Annotation restriction names (authn-gcp/<name>) and the claims they match.
const (
	ProjectID           = "project-id"            // google/compute_engine/project_id
	InstanceName        = "instance-name"         // google/compute_engine/instance_name
	ServiceAccountID    = "service-account-id"    // sub
	ServiceAccountEmail = "service-account-email" // email
)

var restrictionClaims = map[string]string{
	ProjectID:           "google/compute_engine/project_id",
	InstanceName:        "google/compute_engine/instance_name",
	ServiceAccountID:    "sub",
	ServiceAccountEmail: "email",
}

// Authenticator verifies GCP identity tokens for one account.
type Authenticator struct {
	account string
	issuer  string
	keys    *jwks.KeySet
}

var (
	_ authn.Authenticator     = (*Authenticator)(nil)
	_ authn.AnnotationChecker = (*Authenticator)(nil)
	_ authn.StatusChecker     = (*Authenticator)(nil)
)

// New builds an authn-gcp authenticator, reporting every bad value at once.
func New(cfg authn.Config) (authn.Authenticator, error) {
	v := cfg.Values
	errs := authn.UnknownKeys(v, KeyIssuer, KeyJWKSURI)
	a := &Authenticator{account: cfg.Account, issuer: DefaultIssuer}
	jwksURI := DefaultJWKSURI
	if s := v[KeyIssuer]; s != "" {
		if _, err := url.Parse(s); err != nil {
			errs = append(errs, authn.ConfigError{Key: KeyIssuer, Msg: "malformed URL: " + err.Error()})
		}
		a.issuer = s
	}
	if s := v[KeyJWKSURI]; s != "" {
		if err := jwks.CheckURL(s); err != nil {
			errs = append(errs, authn.ConfigError{Key: KeyJWKSURI, Msg: err.Error()})
		}
		jwksURI = s
	}
	client, _ := jwks.HTTPClient(cfg.HTTPClient, "")
	a.keys = jwks.FromURI(client, jwksURI)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return a, nil
}

// Verify checks the Google-signed token in req.Credential (bare or
// "jwt=<token>"). Its aud must be conjur/{account}/{login}, as Conjur
// requires; the login (e.g. host/my-vm) comes from it, and must equal
// req.Login when the route names one.
func (a *Authenticator) Verify(ctx context.Context, req authn.Request) (authn.Identity, authn.Outcome, error) {
	id, o, err := a.keys.Verify(ctx, jwks.Credential(req.Credential, "jwt"), jwks.Rules{Issuer: a.issuer, Now: req.Now})
	if err != nil {
		return id, o, fmt.Errorf("authn-gcp: %w", err)
	}
	if o != authn.OK {
		return id, o, nil
	}
	if sub, _ := id.Claims["sub"].(string); sub == "" {
		id.Reason = "token has no sub claim"
		return id, authn.Bad, nil
	}
	aud, _ := id.Claims["aud"].(string)
	parts := strings.SplitN(aud, "/", 3)
	account := req.Account
	if account == "" {
		account = a.account
	}
	switch {
	case len(parts) != 3 || parts[0] != "conjur" || parts[2] == "":
		id.Reason = fmt.Sprintf("audience %q is not conjur/{account}/{host-id}", aud)
		return id, authn.Bad, nil
	case parts[1] != account:
		id.Reason = fmt.Sprintf("audience account %q is not %q", parts[1], account)
		return id, authn.Bad, nil
	case req.Login != "" && req.Login != parts[2]:
		id.Reason = "audience names another login than the route"
		return id, authn.Bad, nil
	}
	id.Login = parts[2]
	return id, authn.OK, nil
}

// CheckAnnotations applies Conjur's authn-gcp restrictions: the role's
// authn-gcp/<name> annotations (empty ones ignored) may only be project-id,
// instance-name, service-account-id and service-account-email; at least
// one of project-id, service-account-id and service-account-email is
// required; each must equal its token claim.
func (a *Authenticator) CheckAnnotations(id authn.Identity, kind string, annotations map[string]string) (authn.Outcome, string) {
	restrictions := map[string]string{}
	for name, value := range annotations {
		r, ok := strings.CutPrefix(name, Type+"/")
		if ok && value != "" && !strings.Contains(r, "/") && r != "" {
			restrictions[r] = value
		}
	}
	names := make([]string, 0, len(restrictions))
	for n := range restrictions {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, ok := restrictionClaims[n]; !ok {
			return authn.Mismatch, fmt.Sprintf("annotation %s/%s is not permitted", Type, n)
		}
	}
	if restrictions[ProjectID] == "" && restrictions[ServiceAccountID] == "" && restrictions[ServiceAccountEmail] == "" {
		return authn.Mismatch, fmt.Sprintf("%s needs one of %s/%s, %s/%s, %s/%s", kind, Type, ProjectID, Type, ServiceAccountID, Type, ServiceAccountEmail)
	}
	for _, n := range names {
		got, _ := jwks.ClaimAt(id.Claims, restrictionClaims[n])
		s, _ := got.(string)
		if s == "" {
			return authn.Mismatch, fmt.Sprintf("token has no %s claim for annotation %s/%s", restrictionClaims[n], Type, n)
		}
		if s != restrictions[n] {
			return authn.Mismatch, fmt.Sprintf("annotation %s/%s does not match the token", Type, n)
		}
	}
	return authn.OK, ""
}

// Status reports whether the signing keys can be fetched.
func (a *Authenticator) Status(ctx context.Context) error {
	if _, err := a.keys.Fetch(ctx); err != nil {
		return fmt.Errorf("authn-gcp: %w", err)
	}
	return nil
}
