package jwt

import (
	"fmt"
	"sort"
	"strings"

	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/authn/jwks"
)

// CheckAnnotations applies authn-jwt's resource restrictions as Conjur's
// current code reads them: only service-specific annotations
// authn-jwt/{service_id}/{claim path} restrict. General annotations
// (authn-jwt/{claim}), another service's, and names with no claim after the
// service id are ignored: they neither restrict nor refuse. Each
// restriction names a claim (a "/" path reaches nested claims;
// claim-aliases map annotation names to claim names first) whose string
// value must equal the annotation. A role (host or user) needs at least one
// service-specific restriction (Conjur's CONJ00099E); every enforced claim
// must be restricted; the registered claims and aliased claim names may not
// be annotated directly; an empty value, a missing claim, a different value
// or a name that is no claim path (with "[" or "]", say) refuses.
func (a *Authenticator) CheckAnnotations(id authn.Identity, kind string, annotations map[string]string) (authn.Outcome, string) {
	prefix := Type + "/" + a.serviceID + "/"
	restrictions := map[string]string{}
	for name, value := range annotations {
		if r, ok := strings.CutPrefix(name, prefix); ok && r != "" {
			restrictions[r] = value
		}
	}
	if len(restrictions) == 0 {
		return authn.Mismatch, fmt.Sprintf("%s has no %s* annotation", kind, prefix)
	}
	names := make([]string, 0, len(restrictions))
	for n := range restrictions {
		names = append(names, n)
	}
	sort.Strings(names)

	aliasedClaims := map[string]string{} // claim name -> annotation name
	for ann, claim := range a.aliases {
		aliasedClaims[claim] = ann
	}
	for _, n := range names {
		if !claimNameRE.MatchString(n) {
			return authn.Mismatch, fmt.Sprintf("annotation %s%s: invalid restriction name", prefix, n)
		}
		if denied(n) {
			return authn.Mismatch, fmt.Sprintf("annotation %s%s: claim %q may not be annotated", prefix, n, n)
		}
		if ann, ok := aliasedClaims[n]; ok {
			return authn.Mismatch, fmt.Sprintf("annotation %s%s: claim %q is aliased, annotate %q instead", prefix, n, n, ann)
		}
	}
	for _, claim := range a.enforced {
		want := claim
		if ann, ok := aliasedClaims[claim]; ok {
			want = ann
		}
		if _, ok := restrictions[want]; !ok {
			return authn.Mismatch, fmt.Sprintf("enforced claim %q has no %s%s annotation", claim, prefix, want)
		}
	}
	for _, n := range names {
		value := restrictions[n]
		if value == "" {
			return authn.Mismatch, fmt.Sprintf("annotation %s%s is empty", prefix, n)
		}
		claim := n
		if c, ok := a.aliases[n]; ok {
			claim = c
		}
		got, ok := jwks.ClaimAt(id.Claims, claim)
		if !ok || got == nil {
			return authn.Mismatch, fmt.Sprintf("token has no claim %q for annotation %s%s", claim, prefix, n)
		}
		if s, isString := got.(string); !isString || s != value {
			return authn.Mismatch, fmt.Sprintf("claim %q does not match annotation %s%s", claim, prefix, n)
		}
	}
	return authn.OK, ""
}
