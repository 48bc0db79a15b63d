package core

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"

	"github.com/keyward/keyward/internal/model"
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
	return credentialStamp(p), nil
}

// credentialStamp is CredentialStamp of a principal record.
func credentialStamp(p model.Principal) string {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(p.PasswordHash), []byte(p.MFA), p.MFASeed, []byte(p.Status)} {
		h.Write([]byte{byte(len(part) >> 8), byte(len(part))})
		h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// EnrollmentWatch tells a caller of EnrollMFA on its own principal what the
// enrolment's store update read and wrote, in that one transaction: the
// credential stamp of the row before and after, and whether it was a first
// enrolment (MFA state none). The console re-stamps its session from it only
// when the stamp before was the session's own (compare-and-set), so a change
// by someone else (an administrator's password or MFA reset) is never
// absorbed, and only for a first enrolment, never a reset of a factor.
type EnrollmentWatch struct {
	mu            sync.Mutex
	done          bool
	before, after string
	first         bool
}

type enrollmentWatchKey struct{}

// WatchEnrollment returns a context under which an own EnrollMFA reports
// to the returned watch.
func WatchEnrollment(ctx context.Context) (context.Context, *EnrollmentWatch) {
	w := &EnrollmentWatch{}
	return context.WithValue(ctx, enrollmentWatchKey{}, w), w
}

// Result is what the last enrolment under the watch read and wrote; ok is
// false when none was written.
func (w *EnrollmentWatch) Result() (before, after string, first, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.before, w.after, w.first, w.done
}

func (w *EnrollmentWatch) note(before, after model.Principal) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.before, w.after, w.first, w.done = credentialStamp(before), credentialStamp(after), mfaState(before) == model.MFANone, true
}

func watchOf(ctx context.Context) *EnrollmentWatch {
	w, _ := ctx.Value(enrollmentWatchKey{}).(*EnrollmentWatch)
	return w
}
