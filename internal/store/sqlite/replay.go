package sqlite

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/store/sqlstore"
)

// DefaultReplayEntries bounds the replay cache unless SetReplayEntries says otherwise.
const DefaultReplayEntries = 1_000_000

const (
	replayShards = 64
	sweepEvery   = int64(1000)   // ms between sweeps of one shard's expired entries
	pruneEvery   = int64(10_000) // ms between prunes of the table's expired rows
)

// replayCache is the SQLite backend's replay state of signed requests: one
// instance owns a data folder, so the state is answered from memory. Nonces
// sit in sharded maps keyed by 16 bytes of SHA-256 of (key id, nonce), so
// the collector never scans them; expired entries are swept shard by shard.
// At most limit nonces are held: when it is full, a new nonce is refused
// with store.ErrFull (the request gets 503) rather than dropping a live
// entry, which would reopen a replay.
//
// Every nonce taken is also written to the signature_nonces table before
// the request is accepted, and the cache is filled from it when the store
// opens, so a restart reopens no replay (review 22 F1). Signature sessions
// (the clock check) stay in memory only: losing them lets a client whose
// clock went back be accepted once more, which replays nothing.
type replayCache struct {
	limit     atomic.Int64
	count     atomic.Int64
	nextPrune atomic.Int64 // epoch ms of the table's next prune
	shards    [replayShards]nonceShard

	mu       sync.Mutex
	sessions map[string]sigSession // by key id
}

type nonceShard struct {
	mu        sync.Mutex
	m         map[[16]byte]int64 // expiry, epoch ms
	nextSweep int64
}

type sigSession struct {
	account, principal string
	high, last         int64 // epoch ms
}

func newReplayCache(limit int) *replayCache {
	c := &replayCache{sessions: map[string]sigSession{}}
	c.limit.Store(int64(limit))
	for i := range c.shards {
		c.shards[i].m = map[[16]byte]int64{}
	}
	return c
}

// SetReplayEntries bounds the replay cache (--replay-cache-entries); n <= 0
// keeps the default.
func (s *Store) SetReplayEntries(n int) {
	if n > 0 {
		s.replay.limit.Store(int64(n))
	}
}

// sweep drops the shard's expired entries; the caller holds sh.mu.
func (c *replayCache) sweep(sh *nonceShard, now int64) {
	n := 0
	for k, exp := range sh.m {
		if exp <= now {
			delete(sh.m, k)
			n++
		}
	}
	c.count.Add(int64(-n))
	sh.nextSweep = now + sweepEvery
}

// UseSignatureNonce records (keyID, nonce) until until, once: the cache
// decides (atomically, bounded), then the nonce is written to the table
// before the caller may accept the request. A failed write leaves the nonce
// taken (its request is refused; a retry signs a new nonce).
func (s *Store) UseSignatureNonce(ctx context.Context, keyID, nonce string, until, now time.Time) (bool, error) {
	ok, err := s.replay.use(keyID, nonce, until.UnixMilli(), now.UnixMilli())
	if !ok || err != nil || s.db == nil { // no database: the memory benchmark's bare cache
		return ok, err
	}
	if err := s.persistNonce(ctx, keyID, nonce, until.UnixMilli(), now.UnixMilli()); err != nil {
		return false, fmt.Errorf("use signature nonce: %w", err)
	}
	return true, nil
}

// persistNonce writes a nonce taken by the cache to the table, pruning the
// table's expired rows every pruneEvery. The row of an expired use of the
// same pair, not pruned yet, is overwritten.
func (s *Store) persistNonce(ctx context.Context, keyID, nonce string, untilMS, nowMS int64) error {
	prune := false
	if next := s.replay.nextPrune.Load(); nowMS >= next {
		prune = s.replay.nextPrune.CompareAndSwap(next, nowMS+pruneEvery)
	}
	return s.db.Write(ctx, sqlstore.TxOptions{}, func(q sqlstore.Querier) error {
		if prune {
			if _, err := q.Exec(ctx, "DELETE FROM signature_nonces WHERE expires_ms <= $1", nowMS); err != nil {
				return err
			}
		}
		_, err := q.Exec(ctx, `INSERT INTO signature_nonces (key_id, nonce, expires_ms) VALUES ($1, $2, $3)
			ON CONFLICT (key_id, nonce) DO UPDATE SET expires_ms = excluded.expires_ms`, keyID, nonce, untilMS)
		return err
	})
}

// loadNonces fills the cache with the table's nonces, expired or not: the
// clock is the callers', and the sweeps drop what has expired. What was
// recorded counts even beyond the limit (new nonces then wait for room).
func (c *replayCache) loadNonces(ctx context.Context, d *database) error {
	rows, err := d.r.QueryContext(ctx, "SELECT key_id, nonce, expires_ms FROM signature_nonces")
	if err != nil {
		return fmt.Errorf("load signature nonces: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var keyID, nonce string
		var exp int64
		if err := rows.Scan(&keyID, &nonce, &exp); err != nil {
			return fmt.Errorf("load signature nonces: %w", err)
		}
		k, sh := c.slot(keyID, nonce)
		if _, dup := sh.m[k]; !dup {
			c.count.Add(1)
		}
		sh.m[k] = max(sh.m[k], exp)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load signature nonces: %w", err)
	}
	return nil
}

// slot is the cache key of (keyID, nonce) and its shard.
func (c *replayCache) slot(keyID, nonce string) ([16]byte, *nonceShard) {
	h := sha256.Sum256([]byte(keyID + "\x00" + nonce))
	var k [16]byte
	copy(k[:], h[:16])
	return k, &c.shards[binary.LittleEndian.Uint64(h[16:24])%replayShards]
}

// use takes (keyID, nonce) until exp (epoch ms) in the cache, once.
func (c *replayCache) use(keyID, nonce string, exp, nowMS int64) (bool, error) {
	k, sh := c.slot(keyID, nonce)
	for attempt := 0; ; attempt++ {
		sh.mu.Lock()
		if nowMS >= sh.nextSweep {
			c.sweep(sh, nowMS)
		}
		if old, ok := sh.m[k]; ok {
			if old > nowMS {
				sh.mu.Unlock()
				return false, nil
			}
			delete(sh.m, k)
			c.count.Add(-1)
		}
		if c.count.Add(1) <= c.limit.Load() {
			sh.m[k] = exp
			sh.mu.Unlock()
			return true, nil
		}
		c.count.Add(-1)
		sh.mu.Unlock()
		if attempt > 0 {
			return false, store.ErrFull
		}
		// Full: sweep every shard once (one lock at a time), then try again.
		for i := range c.shards {
			o := &c.shards[i]
			o.mu.Lock()
			c.sweep(o, nowMS)
			o.mu.Unlock()
		}
	}
}

// RaiseSignatureSession is the clock check of a key's session.
func (s *Store) RaiseSignatureSession(ctx context.Context, ss store.SignatureSession, ts int64, skew, idle time.Duration, now time.Time) (bool, error) {
	c := s.replay
	nowMS := now.UnixMilli()
	c.mu.Lock()
	defer c.mu.Unlock()
	cur, ok := c.sessions[ss.KeyID]
	if ok && cur.last > nowMS-idle.Milliseconds() {
		if ts < cur.high-skew.Milliseconds() {
			return false, nil
		}
		cur.high = max(cur.high, ts)
	} else {
		cur.high = ts
		if len(c.sessions) > 4096 {
			c.sweepSessions(nowMS - idle.Milliseconds())
		}
	}
	cur.account, cur.principal, cur.last = ss.Account, ss.PrincipalID, nowMS
	c.sessions[ss.KeyID] = cur
	return true, nil
}

// sweepSessions forgets idle sessions; the caller holds c.mu.
func (c *replayCache) sweepSessions(idleBefore int64) {
	for k, v := range c.sessions {
		if v.last <= idleBefore {
			delete(c.sessions, k)
		}
	}
}

// ForgetSignatureSessions forgets the principal's sessions.
// The sessions live in memory here: the record goes to the audit journal
// after they are forgotten.
func (s *Store) ForgetSignatureSessions(ctx context.Context, account, principalID string, ev func(n int) audit.Event) (int, error) {
	c := s.replay
	c.mu.Lock()
	n := 0
	for k, v := range c.sessions {
		if v.account == account && v.principal == principalID {
			delete(c.sessions, k)
			n++
		}
	}
	c.mu.Unlock()
	if err := s.AppendAudit(ctx, ev(n)); err != nil {
		return n, err
	}
	return n, nil
}
