package core

import (
	"context"
	"strings"

	"github.com/keyward/keyward/internal/model"
)

// PasswordRuleMessage says the password complexity rule (Conjur's rule;
// the Conjur surface says it in Conjur's words).
const PasswordRuleMessage = "password must have 12 to 128 characters with at least 2 uppercase letters, 2 lowercase letters, 1 digit and 1 special character"

const passwordSpecials = " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

// MaxPasswordBytes is the longest password accepted, in UTF-8 bytes: bcrypt
// reads only the first 72 bytes, so any longer password would be matched
// by its first 72 bytes alone.
const MaxPasswordBytes = 72

// PasswordTooLongMessage says why a password over MaxPasswordBytes is refused.
const PasswordTooLongMessage = "password must be at most 72 bytes long (UTF-8): bcrypt ignores anything beyond"

// CheckPasswordStrength applies Conjur's complexity rule: 12 to 128
// characters with 2 uppercase, 2 lowercase, 1 digit, 1 special character and
// no newline; and, unlike Conjur, at most MaxPasswordBytes bytes, the most
// bcrypt reads.
func CheckPasswordStrength(pw string) error {
	var upper, lower, digit, special int
	for _, r := range pw {
		switch {
		case r >= 'A' && r <= 'Z':
			upper++
		case r >= 'a' && r <= 'z':
			lower++
		case r >= '0' && r <= '9':
			digit++
		case strings.ContainsRune(passwordSpecials, r):
			special++
		}
	}
	n := len([]rune(pw))
	if n < 12 || n > 128 || upper < 2 || lower < 2 || digit < 1 || special < 1 || strings.ContainsRune(pw, '\n') {
		return &Error{Kind: Invalid, Reason: ReasonWeakPassword, Field: "password", Msg: PasswordRuleMessage}
	}
	if len(pw) > MaxPasswordBytes {
		return &Error{Kind: Invalid, Reason: ReasonWeakPassword, Field: "password", Msg: PasswordTooLongMessage}
	}
	return nil
}

// ChangePassword sets a new password for the session's own principal, which
// must have proved itself with a credential (not a token), as Conjur
// requires. Hosts have no passwords on this route. The principal's Conjur
// API key is left alone, as Conjur leaves it: a client holding it keeps
// working, and whoever fears a stolen password revealed the key (through
// login) rotates the key explicitly.
func (c *principalService) ChangePassword(ctx context.Context, a *Access, password string) error {
	return c.changePassword(ctx, a, password, LevelKey)
}

// SetOwnPassword is ChangePassword for the native route (PUT
// /api/v1/users/{own id}/password, the console's My Account): it needs a
// session of LevelPassword or more. An API key or an outside login (level
// 1) must not give its owner a local password it never had or does not
// know, as it must not change the second factor (mayManageMFA).
func (c *principalService) SetOwnPassword(ctx context.Context, a *Access, password string) error {
	return c.changePassword(ctx, a, password, LevelPassword)
}

func (c *principalService) changePassword(ctx context.Context, a *Access, password string, minLevel int) error {
	s, caller := a.Session, a.Caller
	ev := c.audit.event(caller, s.Account, "password")
	ev.Actor, ev.Subject, ev.Authenticator, ev.KeyID = s.RoleID(), s.RoleID(), s.Authenticator, s.KeyID
	if ev.Authenticator == "" {
		ev.Authenticator = "authn"
	}
	switch {
	case s.Level < LevelKey:
		c.audit.recordFailure(ctx, fail(ev, ReasonCredentialStrength))
		return &Error{Kind: Unauthenticated, Reason: ReasonCredentialStrength, Msg: "a token cannot change its own credentials"}
	case s.Level < minLevel:
		c.audit.recordFailure(ctx, fail(ev, ReasonInsufficientLevel))
		return forbidden(ReasonInsufficientLevel, "changing your own password here needs a password session (security level 2 or more)")
	case s.Narrowed:
		return c.access.deny(ctx, a, ReasonNarrowedCredential, "", "a key limited by roles or sources cannot change its owner's password")
	case s.Kind == string(model.KindHost):
		c.audit.recordFailure(ctx, fail(ev, ReasonHostPassword))
		return forbidden(ReasonHostPassword, "hosts cannot change passwords here")
	}
	if err := CheckPasswordStrength(password); err != nil {
		c.audit.recordFailure(ctx, fail(ev, ReasonWeakPassword))
		return err
	}
	hash, err := c.bcrypt.hash(ctx, password)
	if err != nil {
		c.audit.recordFailure(ctx, fail(ev, AsError(err).Reason))
		return err
	}
	now := c.now().UTC()
	if _, err := c.st.UpdatePrincipal(ctx, s.Account, s.PrincipalID, func(p model.Principal) (model.Principal, error) {
		p.PasswordHash, p.UpdatedAt = hash, now
		return p, nil
	}, ev); err != nil {
		return wrapStore(err, "principal")
	}
	c.keys.forgetPrincipal(s.Account, s.PrincipalID, false)
	return nil
}
