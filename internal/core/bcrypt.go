package core

import (
	"context"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// BcryptCost is the cost of every password hash.
const BcryptCost = 12

// dummyHash is compared against when a login does not exist, so an unknown
// login costs the same bcrypt work as a known one.
const dummyHash = "$2a$12$C6UzMDM.H6dfI/f/IKcEeO5oYYmXtIxtGwvWgswbDZ8PY6wB4Jmk2"

// bcryptPool bounds concurrent bcrypt work, so password floods cannot starve
// cheap requests of CPU, and bounds the queue, so excess logins are refused
// promptly with a retry hint instead of timing out.
type bcryptPool struct {
	slots   chan struct{}
	waiting atomic.Int64
	queue   int64
	// Each bcrypt-12 comparison takes about this long; the retry hint is
	// the expected wait of a full queue.
	perOp time.Duration
}

func newBcryptPool(workers, queue int) *bcryptPool {
	return &bcryptPool{slots: make(chan struct{}, workers), queue: int64(queue), perOp: 250 * time.Millisecond}
}

func (p *bcryptPool) do(ctx context.Context, fn func()) error {
	if p.waiting.Add(1) > p.queue+int64(cap(p.slots)) {
		p.waiting.Add(-1)
		retry := time.Duration(p.queue/int64(cap(p.slots))) * p.perOp
		return &Error{Kind: RateLimited, Msg: "too many password checks in progress; retry later", RetryAfter: max(retry, time.Second)}
	}
	defer p.waiting.Add(-1)
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return AsError(ctx.Err())
	}
	defer func() { <-p.slots }()
	fn()
	return nil
}

// compare checks password against hash in the pool; an empty hash compares
// against a dummy so the time spent says nothing.
func (p *bcryptPool) compare(ctx context.Context, hash, password string) (bool, error) {
	var ok bool
	err := p.do(ctx, func() {
		h := hash
		if h == "" {
			h = dummyHash
		}
		ok = bcrypt.CompareHashAndPassword([]byte(h), []byte(password)) == nil && hash != ""
	})
	return ok, err
}

// hash makes a bcrypt hash in the pool.
func (p *bcryptPool) hash(ctx context.Context, password string) (string, error) {
	var (
		out  []byte
		herr error
	)
	if err := p.do(ctx, func() { out, herr = bcrypt.GenerateFromPassword([]byte(password), BcryptCost) }); err != nil {
		return "", err
	}
	if herr != nil {
		return "", invalid("password", "password cannot be hashed: %v", herr)
	}
	return string(out), nil
}
