package native

import (
	"encoding/base64"
	"net/http"

	"github.com/keyward/keyward/internal/api"
)

// MFAEnrollment is the answer to starting MFA enrolment: the only answer
// that ever holds the seed.
type MFAEnrollment struct {
	Seed       string `json:"seed"`
	OTPAuthURL string `json:"otpauth_url"`
	QRCode     string `json:"qr_code"` // data:image/png;base64,… of otpauth_url
}

// MFAVerified is the answer to a valid enrolment code: MFA is enabled, and
// its first recovery codes are shown once.
type MFAVerified struct {
	MFA           string   `json:"mfa"`
	RecoveryCodes []string `json:"recovery_codes"`
}

// RecoveryCodes is a new set of recovery codes, shown once.
type RecoveryCodes struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

// MFAVerifyRequest carries the code an authenticator app shows.
type MFAVerifyRequest struct {
	Code string `json:"code"`
}

func (s *Surface) enrollMFA(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	en, err := s.core.EnrollMFA(r.Context(), rc.Access, r.PathValue("id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, MFAEnrollment{Seed: en.Seed, OTPAuthURL: en.URL,
		QRCode: "data:image/png;base64," + base64.StdEncoding.EncodeToString(en.QR)})
	return nil
}

func (s *Surface) verifyMFA(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	var req MFAVerifyRequest
	if err := api.DecodeJSON(r, &req); err != nil {
		return err
	}
	codes, err := s.core.VerifyMFA(r.Context(), rc.Access, r.PathValue("id"), req.Code)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, MFAVerified{MFA: "enabled", RecoveryCodes: codes})
	return nil
}

func (s *Surface) disableMFA(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	if err := s.core.DisableMFA(r.Context(), rc.Access, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Surface) recoveryCodes(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	codes, err := s.core.NewRecoveryCodes(r.Context(), rc.Access, r.PathValue("id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, RecoveryCodes{RecoveryCodes: codes})
	return nil
}
