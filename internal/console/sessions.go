package console

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/core"
)

// CookieName is the console session cookie's name.
const CookieName = "keyward_console"

// Session lifetimes.
const (
	IdleTimeout     = 30 * time.Minute
	AbsoluteTimeout = 12 * time.Hour
	pendingTimeout  = 5 * time.Minute
)

// session is one console session, or the code step of a sign-in
// (pending). It lives in the server's memory only: a restart signs
// everyone out.
type session struct {
	core     core.Session
	csrf     string
	started  time.Time
	lastSeen time.Time
	token    string
	tokenExp time.Time
	// the code step holds what the first step proved
	pending         bool
	login, password string
	codeFailures    int
	// stamp is the principal's credential stamp at sign-in.
	stamp string
}

type sessions struct {
	mu  sync.Mutex
	m   map[[32]byte]*session
	now func() time.Time
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{m: map[[32]byte]*session{}, now: now}
}

// random is 256 bits from crypto/rand, base64url.
func random() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// key names a session by the hash of its cookie value: the map never holds
// a value a cookie carries.
func key(value string) [32]byte { return sha256.Sum256([]byte(value)) }

func (ss *sessions) put(se *session) string {
	value := random()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.sweep()
	ss.m[key(value)] = se
	return value
}

// sweep drops ended sessions (mu held).
func (ss *sessions) sweep() {
	now := ss.now()
	for k, se := range ss.m {
		if ss.expired(se, now) {
			delete(ss.m, k)
		}
	}
}

func (ss *sessions) expired(se *session, now time.Time) bool {
	if se.pending {
		return now.Sub(se.started) >= pendingTimeout
	}
	return now.Sub(se.lastSeen) >= IdleTimeout || now.Sub(se.started) >= AbsoluteTimeout
}

func (ss *sessions) start(s core.Session, stamp string) string {
	now := ss.now()
	return ss.put(&session{core: s, stamp: stamp, csrf: random(), started: now, lastSeen: now})
}

func (ss *sessions) pending(login, password string) string {
	now := ss.now()
	return ss.put(&session{pending: true, login: login, password: password, started: now, lastSeen: now})
}

func (ss *sessions) lookup(value string, pending bool) *session {
	if value == "" {
		return nil
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	k := key(value)
	se := ss.m[k]
	if se == nil || se.pending != pending {
		return nil
	}
	now := ss.now()
	if ss.expired(se, now) {
		delete(ss.m, k)
		return nil
	}
	se.lastSeen = now
	return se
}

// get is the signed-in session of a cookie value, its idle clock reset.
func (ss *sessions) get(value string) *session { return ss.lookup(value, false) }

// getPending is the code step of a sign-in.
func (ss *sessions) getPending(value string) *session { return ss.lookup(value, true) }

// stampOf is the credential stamp the session goes on with.
func (ss *sessions) stampOf(se *session) string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return se.stamp
}

// restamp sets the credential stamp a session goes on with.
func (ss *sessions) restamp(se *session, stamp string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	se.stamp = stamp
}

// failCode counts a wrong code of a code step and returns the count.
func (ss *sessions) failCode(se *session) int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	se.codeFailures++
	return se.codeFailures
}

func (ss *sessions) end(value string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, key(value))
}

// token is the session's access token, issued again when it nears its end.
func (ss *sessions) token(se *session, c Core) (string, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if se.token != "" && ss.now().Add(time.Minute).Before(se.tokenExp) {
		return se.token, nil
	}
	t, err := c.IssueToken(se.core, core.FormatNative)
	if err != nil {
		return "", err
	}
	se.token, se.tokenExp = t.Value, t.ExpiresAt
	return t.Value, nil
}

func cookieValue(r *http.Request) string {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return ""
	}
	return c.Value
}

func setCookie(w http.ResponseWriter, r *http.Request, value string) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: value, Path: Prefix, HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode})
}

func clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: Prefix, HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
}
