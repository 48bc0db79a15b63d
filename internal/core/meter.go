package core

import "time"

// Meter receives the core's measurements as they happen; the server
// implements it with Prometheus collectors. Gauges (queue lengths, cache
// sizes) are read from Core.Stats instead. Implementations must be safe
// for concurrent use and cheap: they are called on the hot path.
type Meter interface {
	// Authentication counts one attempt through Authenticate or VerifyKey:
	// the surface it came through (Caller.Surface), the way in (token,
	// api_key, password, api_key_verify, or the outside authenticator's
	// type) and its outcome (success, failure, throttled, error).
	Authentication(surface, method, outcome string)
	// BcryptWait observes how long a job waited for a bcrypt worker.
	BcryptWait(time.Duration)
	// BcryptRefused counts a login refused because the bcrypt queue was
	// full or its expected wait too long.
	BcryptRefused()
	// AuditAppended counts records the group commit wrote; AuditBatch
	// observes the size of each of its commits.
	AuditAppended(n int)
	AuditBatch(n int)
}

// nopMeter is the Meter of a core built without one.
type nopMeter struct{}

func (nopMeter) Authentication(string, string, string) {}
func (nopMeter) BcryptWait(time.Duration)              {}
func (nopMeter) BcryptRefused()                        {}
func (nopMeter) AuditAppended(int)                     {}
func (nopMeter) AuditBatch(int)                        {}

// Stats are the core's gauges at one moment.
type Stats struct {
	BcryptQueue      int // logins admitted and waiting for a bcrypt worker
	BcryptBusy       int // bcrypt workers at work
	CachedKeys       int // API keys held in memory
	CachedPrincipals int // principals held in memory
	CachedTokens     int // verified tokens held in memory (their claims, by hash)
}

// Stats returns the core's gauges now.
func (c *Core) Stats() Stats {
	st := Stats{
		BcryptQueue: int(c.bcrypt.queueLength()),
		BcryptBusy:  int(c.bcrypt.busy.Load()),
	}
	r := c.authService.keys
	r.mu.RLock()
	st.CachedKeys = len(r.keys.keys) + len(r.keys.odd)
	st.CachedPrincipals = len(r.princ)
	r.mu.RUnlock()
	t := c.tokenService.tokens
	t.cacheMu.Lock()
	st.CachedTokens = len(t.cache)
	t.cacheMu.Unlock()
	return st
}

// methodOf names a credential's way in for metrics.
func methodOf(cr *Credential) string {
	switch cr.Kind {
	case CredToken:
		return "token"
	case CredAPIKey:
		return "api_key"
	case CredPassword:
		return "password"
	case CredOutside:
		return cr.Type
	}
	return "none"
}

// outcomeOf names an authentication's outcome for metrics.
func outcomeOf(err error) string {
	if err == nil {
		return "success"
	}
	switch AsError(err).Kind {
	case Unauthenticated, Forbidden, NotFound, Invalid:
		return "failure"
	case RateLimited:
		return "throttled"
	}
	return "error"
}
