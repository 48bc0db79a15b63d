package native

import (
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
)

type tokenRequest struct {
	Account  string `json:"account"`
	Login    string `json:"login"`
	APIKey   string `json:"api_key"`
	Password string `json:"password"`
	// TOTP or RecoveryCode is the second factor of a user whose MFA is enabled.
	TOTP         string `json:"totp"`
	RecoveryCode string `json:"recovery_code"`
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
}

func (s *Surface) token(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	var req tokenRequest
	if err := api.DecodeJSON(r, &req); err != nil {
		return err
	}
	cred, err := core.TokenExchange(core.TokenBody{Account: req.Account, Login: req.Login, APIKey: req.APIKey,
		Password: req.Password, TOTP: req.TOTP, RecoveryCode: req.RecoveryCode}, s.defaultAccount)
	if err != nil {
		return err
	}
	sess, err := s.core.Authenticate(r.Context(), rc.Caller, cred)
	if err != nil {
		return err
	}
	tok, err := s.core.IssueToken(sess, core.FormatNative)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, tokenResponse{AccessToken: tok.Value, TokenType: "Bearer", ExpiresIn: int(tok.TTL / time.Second)})
	return nil
}

type introspection struct {
	Active    bool   `json:"active"`
	Subject   string `json:"sub,omitempty"`
	Account   string `json:"account,omitempty"`
	ExpiresAt int64  `json:"exp,omitempty"`
	IssuedAt  int64  `json:"iat,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Kind      string `json:"kind,omitempty"`
	Level     int    `json:"security_level,omitempty"`
	// Customers and Narrowed: as in api-keys/verify, for a token minted
	// from a limited key (review r22b R6).
	Customers []string `json:"customers,omitempty"`
	Narrowed  bool     `json:"narrowed,omitempty"`
}

func (s *Surface) introspect(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	if err := r.ParseForm(); err != nil {
		if api.IsTooLarge(err) {
			return api.TooLarge()
		}
		return &core.Error{Kind: core.Invalid, Field: "token", Msg: "body must be a form: token=…"}
	}
	tok := r.PostForm.Get("token")
	if tok == "" {
		return &core.Error{Kind: core.Invalid, Field: "token", Msg: "token is required"}
	}
	in, err := s.core.Introspect(r.Context(), rc.Caller, tok)
	if err != nil {
		return err
	}
	out := introspection{Active: in.Active}
	if in.Active {
		out = introspection{Active: true, Subject: in.Subject, Account: in.Account, ExpiresAt: in.ExpiresAt, IssuedAt: in.IssuedAt,
			TokenType: "Bearer", Kind: in.Kind, Level: in.Level, Customers: in.Customers, Narrowed: in.Narrowed}
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

type verifyRequest struct {
	Key string `json:"key"`
	// ClientIP is the address of the client that presented the key, as
	// the resource server saw it; honoured only for a caller holding
	// api-keys-verify (else the key is checked against the verify caller's
	// own address).
	ClientIP string `json:"client_ip"`
}

type verifyResponse struct {
	Valid       bool     `json:"valid"`
	Code        string   `json:"code,omitempty"`
	Account     string   `json:"account,omitempty"`
	Principal   string   `json:"principal,omitempty"`
	PrincipalID string   `json:"principal_id,omitempty"`
	Kind        string   `json:"kind,omitempty"`
	Level       int      `json:"security_level,omitempty"`
	KeyID       string   `json:"key_id,omitempty"`
	Permissions []string `json:"permissions,omitempty"`
	Roles       []string `json:"roles,omitempty"`
	// Customers: the key acts only on principals of these customers (and
	// its owner); a resource server that cannot scope by customer must not
	// let it act on customer data (review r22b R6).
	Customers []string `json:"customers,omitempty"`
	// Narrowed: the key is limited (roles, sources or customers).
	Narrowed  bool       `json:"narrowed,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

func (s *Surface) verify(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	body, err := api.ReadBody(r)
	if err != nil {
		return err
	}
	key, ok := api.OneStringField(body, "key")
	var vouch core.Vouch
	if !ok {
		var req verifyRequest
		if err := api.DecodeJSONBytes(body, &req); err != nil {
			return err
		}
		key = req.Key
		if req.ClientIP != "" {
			ip, err := netip.ParseAddr(req.ClientIP)
			if err != nil {
				return &core.Error{Kind: core.Invalid, Field: "client_ip", Msg: "client_ip must be an IP address"}
			}
			if rc.Access != nil && rc.Access.Has(core.PermAPIKeysVerify) {
				vouch = core.Vouch{Account: rc.Access.Session.Account, ClientIP: ip.Unmap()}
			}
		}
	}
	if key == "" {
		return &core.Error{Kind: core.Invalid, Field: "key", Msg: "key is required"}
	}
	kc, perms, err := s.core.VerifyKey(r.Context(), rc.Caller, key, vouch)
	if err != nil {
		return err
	}
	out := verifyResponse{Valid: false, Code: string(kc.Code)}
	if kc.Valid {
		out = verifyResponse{Valid: true, Account: kc.Session.Account, Principal: kc.Session.Login,
			PrincipalID: kc.Session.PrincipalID, Kind: kc.Session.Kind, Level: kc.Session.Level, KeyID: kc.Key.ID, Permissions: perms, Roles: kc.Key.Roles,
			Customers: kc.Session.Customers, Narrowed: kc.Session.Narrowed, ExpiresAt: kc.Key.ExpiresAt}
	}
	buf := verifyBufs.Get().(*[]byte)
	*buf = out.appendJSON((*buf)[:0])
	api.WriteJSONBytes(w, http.StatusOK, *buf)
	verifyBufs.Put(buf)
	return nil
}

var verifyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// appendJSON appends v as WriteJSON would encode it (fields in order,
// omitempty honoured, a newline after), without reflection: verify is the
// hot path resource servers call.
func (v *verifyResponse) appendJSON(b []byte) []byte {
	b = append(b, `{"valid":`...)
	b = strconv.AppendBool(b, v.Valid)
	str := func(name, s string) {
		if s != "" {
			b = append(b, `,"`...)
			b = append(b, name...)
			b = append(b, `":`...)
			b = api.AppendJSONString(b, s)
		}
	}
	list := func(name string, l []string) {
		if len(l) > 0 {
			b = append(b, `,"`...)
			b = append(b, name...)
			b = append(b, `":[`...)
			for i, s := range l {
				if i > 0 {
					b = append(b, ',')
				}
				b = api.AppendJSONString(b, s)
			}
			b = append(b, ']')
		}
	}
	str("code", v.Code)
	str("account", v.Account)
	str("principal", v.Principal)
	str("principal_id", v.PrincipalID)
	str("kind", v.Kind)
	if v.Level != 0 {
		b = append(b, `,"security_level":`...)
		b = strconv.AppendInt(b, int64(v.Level), 10)
	}
	str("key_id", v.KeyID)
	list("permissions", v.Permissions)
	list("roles", v.Roles)
	list("customers", v.Customers)
	if v.Narrowed {
		b = append(b, `,"narrowed":true`...)
	}
	if v.ExpiresAt != nil {
		if t, err := v.ExpiresAt.MarshalJSON(); err == nil {
			b = append(b, `,"expires_at":`...)
			b = append(b, t...)
		}
	}
	return append(b, "}\n"...)
}
