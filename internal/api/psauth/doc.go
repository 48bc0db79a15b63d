// Package psauth is the BeyondInsight PS-Auth surface under /BeyondTrust/api/public/v3: SignAppin, Signout, OAuth client credentials and the session routes.
package psauth
