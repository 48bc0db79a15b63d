package argus

import (
	"net/http"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/model"
)

// signatureView is a signature key as Argus shows it.
type signatureView struct {
	ID                string  `json:"id"`
	KeyID             string  `json:"keyId"`
	User              userRef `json:"user"`
	Algorithm         string  `json:"algorithm"`
	Fingerprint       string  `json:"fingerprint"`
	Description       string  `json:"description"`
	CreatedTimestamp  int64   `json:"createdTimestamp"`
	LastUsedTimestamp *int64  `json:"lastUsedTimestamp"`
}

func signatureOf(owner model.Principal, k model.SignatureKey) signatureView {
	return signatureView{ID: k.ID, KeyID: core.SignatureKeyID(k), User: userRef{ID: owner.ID, UserName: owner.Login},
		Algorithm: k.Algorithm, Fingerprint: k.Fingerprint, Description: k.Description, CreatedTimestamp: k.CreatedAt.UnixMilli(),
		LastUsedTimestamp: millis(k.LastUsedAt)}
}

func (s *Surface) listSignatures(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	pg, err := readPage(r)
	if err != nil {
		return err
	}
	owner, err := s.user(r, rc)
	if err != nil {
		return err
	}
	ks, err := s.core.ListSignatureKeys(r.Context(), rc.Access, owner.ID)
	if err != nil {
		return err
	}
	views := make([]signatureView, 0, len(ks))
	for _, k := range ks {
		views = append(views, signatureOf(owner, k))
	}
	writeList(w, slice(views, pg), pg, len(views))
	return nil
}

func (s *Surface) enrolSignature(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	o, err := readObject(r, "publicKey", "description")
	if err != nil {
		return err
	}
	pub, desc := o.str("publicKey"), o.str("description")
	if pub == "" && o.err() == nil {
		o.fail("publicKey", "", "publicKey is required")
	}
	if err := o.err(); err != nil {
		return err
	}
	owner, err := s.user(r, rc)
	if err != nil {
		return err
	}
	k, err := s.core.EnrolSignatureKey(r.Context(), rc.Access, owner.ID, pub, desc, idempotency(r, "signature", o.body))
	if err != nil {
		return err
	}
	writeOne(w, signatureOf(owner, k))
	return nil
}

func (s *Surface) deleteSignature(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	owner, err := s.user(r, rc)
	if err != nil {
		return err
	}
	k, err := s.core.DeleteSignatureKey(r.Context(), rc.Access, owner.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeOne(w, signatureOf(owner, k))
	return nil
}

func (s *Surface) evictSessions(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	if err := s.core.EvictSignatureSessions(r.Context(), rc.Access); err != nil {
		return err
	}
	writeOne(w, nil)
	return nil
}
