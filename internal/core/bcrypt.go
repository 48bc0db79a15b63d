package core

import (
	"context"
	"net/netip"
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
//
// The queue is bounded twice: by length, and by expected wait. A login
// that would queue behind q others waits about (q+1) × perOp ÷ workers,
// perOp being the measured time of one bcrypt job; when that exceeds
// maxWait it is refused at once (RateLimited, with that wait as the retry
// hint). The bound runs from the request's arrival (WithArrival), and a
// login still queued at its deadline is refused then (see do), so every
// login is answered, 200 or 429, within maxWait plus one bcrypt time.
//
// And it is shared fairly: one source address (WithSource) has at most
// perSource (the number of workers) jobs admitted at once; more from it are
// refused at once, whatever room the queue has, so a flood from one client
// keeps the workers busy but leaves the queue to everyone else.
type bcryptPool struct {
	jobs    chan bcryptJob
	waiting atomic.Int64 // jobs admitted and not finished: running and queued
	busy    atomic.Int64 // jobs running
	limit   int64
	workers int
	maxWait time.Duration
	// pace delays each refusal's answer (holding no worker): a client that
	// retries at once, ignoring Retry-After, then sends one login per pace
	// instead of turning cheap refusals into a flood of their own. 0 in a
	// bare pool; core.New sets min(1s, maxWait/2), within the answer bound.
	pace time.Duration
	// perOp is the measured time of one bcrypt job (a moving average, in
	// nanoseconds), starting from an estimate until the first is measured.
	perOp        atomic.Int64
	measuredOnce atomic.Bool
	// starts holds each worker's current job's start (unix ns; 0 when
	// idle): a job running longer than perOp says bcrypt got slower (the
	// cores are busy) before any job finishes to say so.
	starts []atomic.Int64
	// now is the pool's clock, for measuring jobs and waits; after is its
	// timer, for a queued login's deadline.
	now   func() time.Time
	after func(time.Duration) (<-chan time.Time, func() bool)
	meter Meter
	once  sync.Once
	stop  chan struct{}
	procs *procLender // nil: GOMAXPROCS is left alone
	// perSource bounds the jobs (running and queued) of one source
	// address (WithSource) at once: its share of the pool. One client,
	// however many connections it opens, then cannot fill the queue and
	// starve every other source's logins (review r20c G9).
	perSource int
	srcMu     sync.Mutex
	bySource  map[netip.Prefix]int
}

type bcryptJob struct {
	fn       func()
	done     chan struct{}
	enqueued time.Time
}

// defaultLoginMaxWait is the longest expected wait in the bcrypt queue a
// login is admitted to when Deps.LoginMaxWait is unset.
const defaultLoginMaxWait = 2 * time.Second

// bcryptEstimate is perOp before any job was measured: about one bcrypt-12
// comparison on a current core.
const bcryptEstimate = 250 * time.Millisecond

func newBcryptPool(workers, queue int) *bcryptPool {
	p := &bcryptPool{jobs: make(chan bcryptJob), limit: int64(queue + workers), workers: workers,
		maxWait: defaultLoginMaxWait, now: time.Now, after: realAfter, meter: nopMeter{}, stop: make(chan struct{}),
		perSource: max(1, workers), bySource: map[netip.Prefix]int{}}
	p.perOp.Store(int64(bcryptEstimate))
	p.starts = make([]atomic.Int64, workers)
	return p
}

// realAfter is a real timer.
func realAfter(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

type arrivalKey struct{}

type sourceKey struct{}

// WithSource records the address a password check is made for (the
// caller's client address, else its peer), so that the bcrypt pool can
// give each source its share. IPv6 addresses count by their /64, which one
// client usually holds whole.
func WithSource(ctx context.Context, caller Caller) context.Context {
	a := caller.ClientIP
	if !a.IsValid() {
		a = caller.PeerIP
	}
	if !a.IsValid() {
		return ctx
	}
	a = a.Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	pfx, err := a.Prefix(bits)
	if err != nil {
		return ctx
	}
	return context.WithValue(ctx, sourceKey{}, pfx)
}

// takeSource counts a job against its source's share; false when the
// source already has perSource jobs admitted. release gives it back.
func (p *bcryptPool) takeSource(ctx context.Context) (release func(), ok bool) {
	src, has := ctx.Value(sourceKey{}).(netip.Prefix)
	if !has {
		return func() {}, true
	}
	p.srcMu.Lock()
	defer p.srcMu.Unlock()
	if p.bySource[src] >= p.perSource {
		return nil, false
	}
	p.bySource[src]++
	return func() {
		p.srcMu.Lock()
		defer p.srcMu.Unlock()
		if p.bySource[src]--; p.bySource[src] <= 0 {
			delete(p.bySource, src)
		}
	}, true
}

// WithArrival records when a request arrived (the HTTP middleware's first
// moment): a password login's wait bound (Deps.LoginMaxWait) runs from then,
// so that time spent before the bcrypt queue (reading the request, a busy
// machine, the store) counts against it too.
//
// The arrival bounds the request's first password check only: a request
// that needs a second one (a password change hashes the new password after
// checking the old) must not be refused for the time its first check took,
// after that check succeeded; the second is bounded from when it asks.
func WithArrival(ctx context.Context, t time.Time) context.Context {
	return context.WithValue(ctx, arrivalKey{}, &arrival{at: t})
}

// arrival is a request's arrival and whether a password check of the
// request has already been handed to a worker.
type arrival struct {
	at  time.Time
	ran atomic.Bool
}

// start launches the workers; close stops them.
func (p *bcryptPool) start() {
	for i := 0; i < p.workers; i++ {
		go p.work(&p.starts[i])
	}
}

func (p *bcryptPool) close() { p.once.Do(func() { close(p.stop) }) }

func (p *bcryptPool) work(started *atomic.Int64) {
	runtime.LockOSThread() // never unlocked: the thread keeps its lower priority and dies with the goroutine
	lowerThreadPriority()
	for {
		select {
		case j := <-p.jobs:
			p.busy.Add(1)
			p.procs.begin()
			start := p.now()
			started.Store(start.UnixNano())
			p.meter.BcryptWait(start.Sub(j.enqueued))
			j.fn()
			p.measured(p.now().Sub(start))
			started.Store(0)
			p.procs.end()
			p.busy.Add(-1)
			close(j.done)
		case <-p.stop:
			return
		}
	}
}

// measured folds one job's duration into perOp (a moving average weighing
// the newest job 1/4); the first measurement replaces the estimate.
func (p *bcryptPool) measured(d time.Duration) {
	if d <= 0 {
		return
	}
	for {
		old := p.perOp.Load()
		next := old + (int64(d)-old)/4
		if !p.measuredOnce.Load() {
			next = int64(d)
		}
		if p.perOp.CompareAndSwap(old, next) {
			p.measuredOnce.Store(true)
			return
		}
	}
}

// expectedWait is how long a job admitted behind ahead others (running and
// queued) waits for a worker: nothing while a worker is free, else the
// queued jobs in front of it and itself, each taking perOp (or as long as
// the longest-running job has run, when that is longer), shared by the
// workers.
func (p *bcryptPool) expectedWait(ahead int64) time.Duration {
	queued := ahead - int64(p.workers)
	if queued < 0 {
		return 0
	}
	per := p.perOp.Load()
	now := p.now().UnixNano()
	for i := range p.starts {
		if s := p.starts[i].Load(); s != 0 && now-s > per {
			per = now - s
		}
	}
	return time.Duration((queued + 1) * per / int64(p.workers))
}

// queueLength is the number of jobs admitted and not yet running.
func (p *bcryptPool) queueLength() int64 { return max(0, p.waiting.Load()-p.busy.Load()) }

// do runs fn on a worker, or refuses it (RateLimited, with a retry hint).
// The wait bound holds by construction: a login's deadline is its arrival
// (WithArrival; else now) plus maxWait. It is refused at once when the
// deadline has passed or its expected wait would pass it, and refused when
// the deadline comes while it is still queued (a job is only handed to a
// worker, through an unbuffered channel, before it): so every login is
// answered by its deadline, or runs, having started by then, and is
// answered within one bcrypt time after it.
func (p *bcryptPool) do(ctx context.Context, fn func()) error {
	now := p.now()
	deadline := now.Add(p.maxWait)
	a, _ := ctx.Value(arrivalKey{}).(*arrival)
	if a != nil && !a.ran.Load() && a.at.Before(now) {
		deadline = a.at.Add(p.maxWait)
	}
	left := deadline.Sub(now)
	release, fair := p.takeSource(ctx)
	if fair {
		defer release()
	}
	ahead := p.waiting.Add(1) - 1
	if wait := p.expectedWait(ahead); !fair || ahead >= p.limit || left <= 0 || wait > left {
		p.waiting.Add(-1)
		p.meter.BcryptRefused()
		// Paced, within the deadline.
		if pace := min(p.pace, left); pace > 0 {
			c, stop := p.after(pace)
			select {
			case <-c:
			case <-ctx.Done():
			case <-p.stop:
			}
			stop()
		}
		return p.refusal(wait)
	}
	defer p.waiting.Add(-1)
	j := bcryptJob{fn: fn, done: make(chan struct{}), enqueued: now}
	expired, stop := p.after(left)
	select {
	case p.jobs <- j:
		stop()
		if a != nil {
			a.ran.Store(true)
		}
	case <-expired:
		// Its deadline came while it queued: never handed to a worker.
		p.meter.BcryptRefused()
		return p.refusal(p.expectedWait(p.waiting.Load() - 1))
	case <-p.stop:
		stop()
		return &Error{Kind: Unavailable, Msg: "shutting down"}
	case <-ctx.Done():
		stop()
		return AsError(ctx.Err())
	}
	<-j.done // the job runs to its end even if the caller has gone: bcrypt cannot be interrupted
	return nil
}

// refusal is the answer to a login refused with an expected wait.
func (p *bcryptPool) refusal(wait time.Duration) error {
	return &Error{Kind: RateLimited, Msg: "too many password checks in progress; retry later",
		RetryAfter: max(time.Second, wait)}
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
