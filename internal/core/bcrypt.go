package core

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// BcryptCost is the cost of every password hash.
const BcryptCost = 12

// dummyHash is compared against when a login does not exist, so an unknown
// login costs the same bcrypt work as a known one.
const dummyHash = "$2a$12$C6UzMDM.H6dfI/f/IKcEeO5oYYmXtIxtGwvWgswbDZ8PY6wB4Jmk2"

// bcryptPool runs bcrypt work on a fixed set of worker goroutines, each
// locked to its own OS thread at a lower scheduling priority (where the
// platform allows), and bounds the queue in front of them. A bcrypt-12
// comparison keeps a CPU busy for about 200 ms; on a small machine two of
// them would take every core from cheap requests (key and token checks).
// With the workers' threads deprioritised, and one extra Go P lent for each
// busy worker (see procLender), cheap requests keep every core they need
// and bcrypt gets what is left, up to its workers' share when idle. Beyond
// the queue a login is refused at once with a retry hint rather than left to
// time out.
type bcryptPool struct {
	jobs    chan bcryptJob
	waiting atomic.Int64
	limit   int64
	workers int
	// perOp is about what one bcrypt-12 comparison takes; the retry hint
	// is the expected wait of a full queue.
	perOp time.Duration
	once  sync.Once
	stop  chan struct{}
	procs *procLender // nil: GOMAXPROCS is left alone
}

type bcryptJob struct {
	fn   func()
	done chan struct{}
}

func newBcryptPool(workers, queue int) *bcryptPool {
	return &bcryptPool{jobs: make(chan bcryptJob), limit: int64(queue + workers), workers: workers,
		perOp: 250 * time.Millisecond, stop: make(chan struct{})}
}

// start launches the workers; close stops them.
func (p *bcryptPool) start() {
	for i := 0; i < p.workers; i++ {
		go p.work()
	}
}

func (p *bcryptPool) close() { p.once.Do(func() { close(p.stop) }) }

func (p *bcryptPool) work() {
	runtime.LockOSThread() // never unlocked: the thread keeps its lower priority and dies with the goroutine
	lowerThreadPriority()
	for {
		select {
		case j := <-p.jobs:
			p.procs.begin()
			j.fn()
			p.procs.end()
			close(j.done)
		case <-p.stop:
			return
		}
	}
}

// RetryAfter is the hint given with a refusal: the time a full queue takes.
func (p *bcryptPool) retryAfter() time.Duration {
	return max(time.Second, time.Duration(p.limit/int64(p.workers))*p.perOp)
}

func (p *bcryptPool) do(ctx context.Context, fn func()) error {
	if p.waiting.Add(1) > p.limit {
		p.waiting.Add(-1)
		return &Error{Kind: RateLimited, Msg: "too many password checks in progress; retry later", RetryAfter: p.retryAfter()}
	}
	defer p.waiting.Add(-1)
	j := bcryptJob{fn: fn, done: make(chan struct{})}
	select {
	case p.jobs <- j:
	case <-p.stop:
		return &Error{Kind: Unavailable, Msg: "shutting down"}
	case <-ctx.Done():
		return AsError(ctx.Err())
	}
	<-j.done // the job runs to its end even if the caller has gone: bcrypt cannot be interrupted
	return nil
}

// bcryptInput is what bcrypt sees of a password: its first 72 bytes, the
// algorithm's limit. Conjur's bcrypt (Ruby) truncates the same way, so its
// 128-character passwords keep working.
func bcryptInput(password string) []byte {
	b := []byte(password)
	if len(b) > 72 {
		b = b[:72]
	}
	return b
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
		ok = bcrypt.CompareHashAndPassword([]byte(h), bcryptInput(password)) == nil && hash != ""
	})
	return ok, err
}

// hash makes a bcrypt hash in the pool.
func (p *bcryptPool) hash(ctx context.Context, password string) (string, error) {
	var (
		out  []byte
		herr error
	)
	if err := p.do(ctx, func() { out, herr = bcrypt.GenerateFromPassword(bcryptInput(password), BcryptCost) }); err != nil {
		return "", err
	}
	if herr != nil {
		return "", invalid("password", "password cannot be hashed: %v", herr)
	}
	return string(out), nil
}

// procLender raises GOMAXPROCS by one for each busy bcrypt worker, so the P
// a worker holds for its ~200 ms of hashing is not one that cheap requests
// need, and gives the Ps back once the pool has been idle for procIdle. An
// idle pool then costs nothing: more Ps than cores only adds scheduling
// work. Under a login flood the workers stay busy and the Ps stay lent.
type procLender struct {
	mu    sync.Mutex
	base  int // GOMAXPROCS with nothing lent
	busy  int
	lent  int
	timer *time.Timer
}

const procIdle = 100 * time.Millisecond

func newProcLender() *procLender { return &procLender{base: runtime.GOMAXPROCS(0)} }

func (l *procLender) begin() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.busy++
	if l.busy > l.lent {
		l.lent = l.busy
		runtime.GOMAXPROCS(l.base + l.lent)
	}
}

func (l *procLender) end() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.busy--
	if l.busy > 0 {
		return
	}
	if l.timer == nil {
		l.timer = time.AfterFunc(procIdle, l.idle)
	} else {
		l.timer.Reset(procIdle)
	}
}

func (l *procLender) idle() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.busy == 0 && l.lent > 0 {
		l.lent = 0
		runtime.GOMAXPROCS(l.base)
	}
}
