package server

import (
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/authn/azure"
	"github.com/keyward/keyward/internal/authn/gcp"
	"github.com/keyward/keyward/internal/authn/iam"
	"github.com/keyward/keyward/internal/authn/jwt"
	"github.com/keyward/keyward/internal/authn/ldap"
	"github.com/keyward/keyward/internal/authn/oidc"
)

// authenticatorFactories builds every outside authenticator by type.
func authenticatorFactories() map[string]authn.Factory {
	return map[string]authn.Factory{
		jwt.Type:   jwt.New,
		oidc.Type:  oidc.New,
		ldap.Type:  ldap.New,
		gcp.Type:   gcp.New,
		azure.Type: azure.New,
		iam.Type:   iam.New,
	}
}
