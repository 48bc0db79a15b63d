// Package azure verifies Azure managed-identity tokens for Conjur's authn-azure authenticator and checks hosts' authn-azure annotations.
package azure

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/authn/jwks"
)

// Type is the authenticator type this package implements.
const Type = "authn-azure"

// KeyProviderURI is the only configuration key: the Azure AD issuer, e.g.
// https://sts.windows.net/<tenant-id>/, read through OIDC discovery.
const KeyProviderURI = "provider-uri"

// Annotation restriction names, authn-azure[/<service-id>]/<name>.
const (
	SubscriptionID         = "subscription-id"
	ResourceGroup          = "resource-group"
	UserAssignedIdentity   = "user-assigned-identity"
	SystemAssignedIdentity = "system-assigned-identity"
)

// Authenticator verifies Azure tokens for one authn-azure service.
type Authenticator struct {
	serviceID string
	issuer    string
	keys      *jwks.KeySet
}

var (
	_ authn.Authenticator     = (*Authenticator)(nil)
	_ authn.AnnotationChecker = (*Authenticator)(nil)
	_ authn.StatusChecker     = (*Authenticator)(nil)
)

// New builds an authn-azure authenticator, reporting every bad value at once.
func New(cfg authn.Config) (authn.Authenticator, error) {
	v := cfg.Values
	errs := authn.UnknownKeys(v, KeyProviderURI)
	p := v[KeyProviderURI]
	if p == "" {
		errs = append(errs, authn.ConfigError{Key: KeyProviderURI, Msg: "required"})
	} else if err := jwks.CheckURL(p); err != nil {
		errs = append(errs, authn.ConfigError{Key: KeyProviderURI, Msg: err.Error()})
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	client, _ := jwks.HTTPClient(cfg.HTTPClient, "")
	return &Authenticator{
		serviceID: cfg.ServiceID,
		// Conjur expects iss to be provider-uri with exactly one trailing slash.
		issuer: strings.TrimRight(p, "/") + "/",
		keys:   jwks.FromProvider(client, p),
	}, nil
}

// Verify checks the token in req.Credential (bare or "jwt=<token>") for
// the host req.Login names; the token must carry xms_mirid and oid.
func (a *Authenticator) Verify(ctx context.Context, req authn.Request) (authn.Identity, authn.Outcome, error) {
	id, o, err := a.keys.Verify(ctx, jwks.Credential(req.Credential, "jwt"), jwks.Rules{Issuer: a.issuer, Now: req.Now})
	if err != nil {
		return id, o, fmt.Errorf("authn-azure %s: %w", a.serviceID, err)
	}
	if o != authn.OK {
		return id, o, nil
	}
	if req.Login == "" {
		id.Reason = "no login in the route"
		return id, authn.Bad, nil
	}
	mirid, _ := id.Claims["xms_mirid"].(string)
	oid, _ := id.Claims["oid"].(string)
	if mirid == "" || oid == "" {
		id.Reason = "token lacks xms_mirid or oid"
		return id, authn.Bad, nil
	}
	if _, err := parseMirid(mirid); err != nil {
		id.Reason = err.Error()
		return id, authn.Bad, nil
	}
	id.Login = req.Login
	return id, authn.OK, nil
}

// mirid is a parsed xms_mirid: /subscriptions/<s>/resourcegroups/<g>/providers/<p1>/<p2>/<p3>.
type mirid struct {
	subscription, resourceGroup string
	providers                   []string
}

func parseMirid(s string) (mirid, error) {
	parts := strings.Split(strings.TrimPrefix(s, "/"), "/")
	sections := map[string][]string{}
	cur := ""
	for _, p := range parts {
		switch p {
		case "subscriptions", "resourcegroups", "providers":
			cur = p
			sections[cur] = []string{}
		default:
			if cur == "" {
				return mirid{}, fmt.Errorf("xms_mirid %q does not start with a known section", s)
			}
			sections[cur] = append(sections[cur], p)
		}
	}
	for _, k := range []string{"subscriptions", "resourcegroups", "providers"} {
		if len(sections[k]) == 0 {
			return mirid{}, fmt.Errorf("xms_mirid %q lacks %s", s, k)
		}
	}
	if len(sections["providers"]) != 3 {
		return mirid{}, fmt.Errorf("xms_mirid %q: providers must have 3 parts", s)
	}
	return mirid{subscription: sections["subscriptions"][0], resourceGroup: sections["resourcegroups"][0], providers: sections["providers"]}, nil
}

// CheckAnnotations applies Conjur's authn-azure restrictions. Annotations
// authn-azure/<name> and authn-azure/<service-id>/<name> are read (the
// service-specific one wins, empty ones are ignored); only the four names
// are permitted, subscription-id and resource-group are required, and at
// most one of user-assigned-identity and system-assigned-identity may be
// set. subscription-id and resource-group match xms_mirid; a user-assigned
// identity is the last providers part of xms_mirid (when its provider is
// Microsoft.ManagedIdentity), a system-assigned identity is oid (when not).
func (a *Authenticator) CheckAnnotations(id authn.Identity, kind string, annotations map[string]string) (authn.Outcome, string) {
	restrictions := map[string]string{}
	specific := Type + "/" + a.serviceID + "/"
	for name, value := range annotations {
		if value == "" {
			continue
		}
		if r, ok := strings.CutPrefix(name, specific); ok && r != "" && !strings.Contains(r, "/") {
			restrictions[r] = value
		}
	}
	for name, value := range annotations {
		r, ok := strings.CutPrefix(name, Type+"/")
		if ok && value != "" && r != "" && !strings.Contains(r, "/") {
			if _, set := restrictions[r]; !set {
				restrictions[r] = value
			}
		}
	}
	names := make([]string, 0, len(restrictions))
	for n := range restrictions {
		switch n {
		case SubscriptionID, ResourceGroup, UserAssignedIdentity, SystemAssignedIdentity:
		default:
			return authn.Mismatch, fmt.Sprintf("annotation %s/%s is not permitted", Type, n)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	for _, req := range []string{SubscriptionID, ResourceGroup} {
		if _, ok := restrictions[req]; !ok {
			return authn.Mismatch, fmt.Sprintf("%s lacks required annotation %s/%s", kind, Type, req)
		}
	}
	if restrictions[UserAssignedIdentity] != "" && restrictions[SystemAssignedIdentity] != "" {
		return authn.Mismatch, fmt.Sprintf("%s/%s and %s/%s are mutually exclusive", Type, UserAssignedIdentity, Type, SystemAssignedIdentity)
	}
	miridClaim, _ := id.Claims["xms_mirid"].(string)
	oid, _ := id.Claims["oid"].(string)
	m, err := parseMirid(miridClaim)
	if err != nil {
		return authn.Mismatch, err.Error()
	}
	userAssigned := false
	for _, p := range m.providers {
		userAssigned = userAssigned || p == "Microsoft.ManagedIdentity"
	}
	for _, n := range names {
		var got string
		switch n {
		case SubscriptionID:
			got = m.subscription
		case ResourceGroup:
			got = m.resourceGroup
		case UserAssignedIdentity:
			if userAssigned {
				got = m.providers[2]
			}
		case SystemAssignedIdentity:
			if !userAssigned {
				got = oid
			}
		}
		if got != restrictions[n] {
			return authn.Mismatch, fmt.Sprintf("annotation %s/%s does not match the token", Type, n)
		}
	}
	return authn.OK, ""
}

// Status reports whether the provider's discovery and keys are reachable.
func (a *Authenticator) Status(ctx context.Context) error {
	if _, err := a.keys.Fetch(ctx); err != nil {
		return fmt.Errorf("authn-azure %s: %w", a.serviceID, err)
	}
	return nil
}
