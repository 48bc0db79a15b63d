// Package psauth drives the built keyward binary, served over TLS with client certificates, with BeyondTrust's Go client (go-client-library-passwordsafe v1.3.2, unchanged).
package psauth
