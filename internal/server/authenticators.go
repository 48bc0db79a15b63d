package server

import (
	"github.com/keyward/keyward/internal/authn"
)

// authenticatorFactories builds every outside authenticator by type.
func authenticatorFactories() map[string]authn.Factory {
	return map[string]authn.Factory{}
}
