package core

import (
	"context"
	"fmt"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/keyward/keyward/internal/model"
)

// MFA actions on several principals at once (PrivX's users/mfa/*).
const (
	MFAActionEnable  = "enable"  // none becomes enrolling with a new seed; other states stay
	MFAActionReset   = "reset"   // any state becomes enrolling with a new seed
	MFAActionDisable = "disable" // any state becomes none
)

// SetMFA applies action to every principal of ids, each as EnrollMFA or
// DisableMFA would (same rules, same records), all or nothing: every id is
// resolved first (an unknown one is NotFound), then the caller's right to
// act on each is checked (a refusal is Forbidden, audited), and only then is
// anything changed (review r21 F5).
func (c *mfaService) SetMFA(ctx context.Context, a *Access, action string, ids []string) error {
	switch action {
	case MFAActionEnable, MFAActionReset, MFAActionDisable:
	default:
		return &Error{Kind: NotFound, Msg: "no MFA action " + action}
	}
	targets := make([]model.Principal, 0, len(ids))
	for _, id := range ids {
		p, err := c.access.principalIn(ctx, a, id)
		if err != nil {
			return err
		}
		targets = append(targets, p)
	}
	changes := func(p model.Principal) (enroll, disable bool) {
		switch {
		case action == MFAActionEnable && mfaState(p) == model.MFANone, action == MFAActionReset:
			return true, false
		case action == MFAActionDisable && mfaState(p) != model.MFANone:
			return false, true
		}
		return false, false
	}
	for _, p := range targets {
		event := "mfa." + action // nothing to change, but the caller must still be one who may
		switch enroll, disable := changes(p); {
		case enroll:
			event = "mfa.enroll"
		case disable:
			event = "mfa.disable"
		}
		if _, err := c.mayManageMFA(ctx, a, p.ID, event); err != nil {
			return err
		}
	}
	for _, p := range targets {
		var err error
		switch enroll, disable := changes(p); {
		case enroll:
			_, err = c.EnrollMFA(ctx, a, p.ID)
		case disable:
			err = c.DisableMFA(ctx, a, p.ID)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// MFASeed returns the TOTP seed of principal p while it is enrolling, to p
// itself or to a holder of users-manage who may manage p (the rule,
// with the core's managing rule: the caller must outrank p, so a helpdesk
// user refused a reset of a stronger user's MFA is not shown that user's
// seed either, review r21 F4; a narrowed key never sees one). Each read is
// recorded (mfa.seed.read); ok is false when there is none to show or the
// caller may not see it (not audited as a refusal: a listing meets many).
func (c *mfaService) MFASeed(ctx context.Context, a *Access, p model.Principal) (MFAEnrollment, bool, error) {
	if p.MFA != model.MFAEnrolling || len(p.MFASeed) == 0 || p.Account != a.Session.Account {
		return MFAEnrollment{}, false, nil
	}
	if p.ID != a.Session.PrincipalID {
		if !a.Has(PermUsersManage) || a.Session.Narrowed {
			return MFAEnrollment{}, false, nil
		}
		theirs, err := c.access.potential(ctx, p.Account, p.ID, a.Now)
		if err != nil {
			return MFAEnrollment{}, false, err
		}
		if a.perms.missing(theirs) != "" {
			return MFAEnrollment{}, false, nil
		}
	}
	raw, err := c.sealer.Open(p.MFASeed, seedAAD(p))
	if err != nil {
		return MFAEnrollment{}, false, fmt.Errorf("open mfa seed: %w", err)
	}
	u := OTPAuthURL(p.Login, string(raw))
	png, err := qrcode.Encode(u, qrcode.Medium, 256)
	if err != nil {
		return MFAEnrollment{}, false, err
	}
	if err := c.audit.record(ctx, c.mfaEvent(a, p, "mfa.seed.read")); err != nil {
		return MFAEnrollment{}, false, err
	}
	return MFAEnrollment{Seed: string(raw), URL: u, QR: png}, true, nil
}
