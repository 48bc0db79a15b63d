package jwt_test

import (
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/authn/jwt/jwttest"
)

func jwttestClaimsSegment(c map[string]any) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// jwttestFakeToken is a token signed by an issuer nobody trusts.
func jwttestFakeToken(t *testing.T) string {
	iss := jwttest.NewIssuer(t)
	c := iss.Claims("a", "")
	c["exp"] = time.Now().Add(time.Hour).Unix()
	return iss.Sign(c)
}
