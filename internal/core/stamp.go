package core

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
)

// CredentialStamp is a digest of what a principal signs in with: its
// password hash, second-factor state and seed, and status. A long-lived
// session that re-issues tokens from a sign-in (the console's) compares it
// with the stamp taken at sign-in and ends when a password change, an MFA
// reset or a status change has made that sign-in stale. It reveals nothing
// of the secrets (a digest, never shown outside the process).
func (c *principalService) CredentialStamp(ctx context.Context, account, principalID string) (string, error) {
	p, err := c.st.GetPrincipal(ctx, account, principalID)
	if err != nil {
		return "", wrapStore(err, "principal")
	}
	h := sha256.New()
	for _, part := range [][]byte{[]byte(p.PasswordHash), []byte(p.MFA), p.MFASeed, []byte(p.Status)} {
		h.Write([]byte{byte(len(part) >> 8), byte(len(part))})
		h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
