package jwt_test

import (
	"testing"

	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/authn/jwt"
)

func TestCheckAnnotations(t *testing.T) {
	claims := map[string]any{
		"sub": "app", "ref": "main", "iss": "https://i", "exp": 1.0, "num": 7.0,
		"project": map[string]any{"path": "group/proj"}, "a/b": "literal",
	}
	plain := newAuthValues(t, map[string]string{})
	enforced := newAuthValues(t, map[string]string{"enforced-claims": "ref, project/path"})
	aliased := newAuthValues(t, map[string]string{"claim-aliases": "branch:ref, proj:project/path", "enforced-claims": "ref"})

	cases := []struct {
		name string
		a    *jwt.Authenticator
		kind string
		ann  map[string]string
		want authn.Outcome
	}{
		{"match", plain, "host", map[string]string{"authn-jwt/svc/sub": "app", "authn-jwt/svc/ref": "main"}, authn.OK},
		{"mismatch", plain, "host", map[string]string{"authn-jwt/svc/sub": "app", "authn-jwt/svc/ref": "dev"}, authn.Mismatch},
		{"missing claim", plain, "host", map[string]string{"authn-jwt/svc/nope": "x"}, authn.Mismatch},
		{"non-string claim", plain, "host", map[string]string{"authn-jwt/svc/num": "7"}, authn.Mismatch},
		{"empty value", plain, "host", map[string]string{"authn-jwt/svc/sub": ""}, authn.Mismatch},
		{"nested", plain, "host", map[string]string{"authn-jwt/svc/project/path": "group/proj"}, authn.OK},
		{"nested mismatch", plain, "host", map[string]string{"authn-jwt/svc/project/path": "x"}, authn.Mismatch},
		{"literal slash claim wins", plain, "host", map[string]string{"authn-jwt/svc/a/b": "literal"}, authn.OK},
		{"no service-specific", plain, "host", map[string]string{"authn-jwt/sub": "app", "authn-jwt/other/sub": "app"}, authn.Mismatch},
		// Issue 19, point 5: general annotations, other services' and
		// malformed names neither restrict nor refuse.
		{"general ignored", plain, "host", map[string]string{"authn-jwt/svc/sub": "app", "authn-jwt/ref": "dev"}, authn.OK},
		{"general matches", plain, "host", map[string]string{"authn-jwt/svc/sub": "app", "authn-jwt/ref": "main"}, authn.OK},
		{"service-specific decides", plain, "host", map[string]string{"authn-jwt/svc/ref": "main", "authn-jwt/ref": "dev"}, authn.OK},
		{"service-specific refuses whatever the general says", plain, "host", map[string]string{"authn-jwt/svc/ref": "dev", "authn-jwt/ref": "main"}, authn.Mismatch},
		{"general does not satisfy an enforced claim", enforced, "host", map[string]string{"authn-jwt/ref": "main", "authn-jwt/svc/project/path": "group/proj"}, authn.Mismatch},
		{"general forbidden claim ignored", plain, "host", map[string]string{"authn-jwt/svc/sub": "app", "authn-jwt/exp": "1"}, authn.OK},
		{"other service ignored", plain, "host", map[string]string{"authn-jwt/svc/sub": "app", "authn-jwt/other/ref": "dev"}, authn.OK},
		{"other service's aud ignored", plain, "host", map[string]string{"authn-jwt/svc/sub": "app", "authn-jwt/other-service/aud": "x"}, authn.OK},
		{"general with a slash is another service's", plain, "host", map[string]string{"authn-jwt/svc/sub": "app", "authn-jwt/project/path": "x"}, authn.OK},
		{"malformed names ignored", plain, "host", map[string]string{"authn-jwt/svc/sub": "app", "authn-jwt": "x", "authn-jwt/svc": "x", "authn-jwt/svc/": "x"}, authn.OK},
		{"malformed names alone refuse", plain, "host", map[string]string{"authn-jwt": "x", "authn-jwt/svc": "x"}, authn.Mismatch},
		{"brackets refuse", plain, "host", map[string]string{"authn-jwt/svc/sub": "app", "authn-jwt/svc/groups[0]": "x"}, authn.Mismatch},
		{"nested under aliases", newAuthValues(t, map[string]string{"claim-aliases": "group:additional_data/group_name"}), "host",
			map[string]string{"authn-jwt/svc/group": "ops"}, authn.Mismatch},
		{"user without annotations", plain, "user", map[string]string{}, authn.Mismatch},
		{"user with annotations", plain, "user", map[string]string{"authn-jwt/svc/sub": "app"}, authn.OK},
		{"forbidden exp", plain, "host", map[string]string{"authn-jwt/svc/sub": "app", "authn-jwt/svc/exp": "1"}, authn.Mismatch},
		{"forbidden iss", plain, "host", map[string]string{"authn-jwt/svc/iss": "https://i"}, authn.Mismatch},
		{"forbidden iat", plain, "host", map[string]string{"authn-jwt/svc/iat": "1"}, authn.Mismatch},
		{"forbidden nbf", plain, "host", map[string]string{"authn-jwt/svc/nbf": "1"}, authn.Mismatch},
		{"invalid name", plain, "host", map[string]string{"authn-jwt/svc/1bad": "x"}, authn.Mismatch},
		{"enforced present", enforced, "host", map[string]string{"authn-jwt/svc/ref": "main", "authn-jwt/svc/project/path": "group/proj"}, authn.OK},
		{"enforced missing", enforced, "host", map[string]string{"authn-jwt/svc/ref": "main"}, authn.Mismatch},
		{"alias match", aliased, "host", map[string]string{"authn-jwt/svc/branch": "main", "authn-jwt/svc/proj": "group/proj"}, authn.OK},
		{"alias mismatch", aliased, "host", map[string]string{"authn-jwt/svc/branch": "dev"}, authn.Mismatch},
		{"aliased claim annotated directly", aliased, "host", map[string]string{"authn-jwt/svc/branch": "main", "authn-jwt/svc/ref": "main"}, authn.Mismatch},
		{"enforced via alias missing", aliased, "host", map[string]string{"authn-jwt/svc/proj": "group/proj"}, authn.Mismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, why := tc.a.CheckAnnotations(authn.Identity{Login: "host/x", Claims: claims}, tc.kind, tc.ann)
			if o != tc.want {
				t.Fatalf("outcome = %v (%s), want %v", o, why, tc.want)
			}
			if o != authn.OK && why == "" {
				t.Fatal("refusal without a reason")
			}
		})
	}
}

func newAuthValues(t *testing.T, extra map[string]string) *jwt.Authenticator {
	t.Helper()
	v := map[string]string{"jwks-uri": "https://issuer.example/jwks"}
	for k, x := range extra {
		v[k] = x
	}
	return newAuth(t, v)
}
