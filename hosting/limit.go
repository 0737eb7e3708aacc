package hosting

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"
)

// rateLimiter is a token bucket per caller: capacity perMinute, refilled
// continuously at perMinute per minute. Idle callers are forgotten.
type rateLimiter struct {
	perMinute float64
	buckets   map[string]*tokenBucket
	lastSweep time.Time
}

type tokenBucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(perMinute int) *rateLimiter {
	return &rateLimiter{perMinute: float64(perMinute), buckets: map[string]*tokenBucket{}}
}

// take removes n tokens from key's bucket and returns 0, or returns how long
// to wait until n tokens are there (and takes nothing). The caller holds the
// Gate's lock.
func (l *rateLimiter) take(key string, n int, now time.Time) time.Duration {
	if now.Sub(l.lastSweep) > time.Minute {
		l.sweep(now)
	}
	b := l.buckets[key]
	if b == nil {
		b = &tokenBucket{tokens: l.perMinute, last: now}
		l.buckets[key] = b
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = math.Min(l.perMinute, b.tokens+el.Minutes()*l.perMinute)
		b.last = now
	}
	if b.tokens >= float64(n) {
		b.tokens -= float64(n)
		return 0
	}
	if float64(n) > l.perMinute {
		return time.Minute // never fits; tell the caller something finite
	}
	return time.Duration((float64(n) - b.tokens) / l.perMinute * float64(time.Minute))
}

// sweep forgets buckets that have refilled completely.
func (l *rateLimiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if now.Sub(b.last) >= time.Minute {
			delete(l.buckets, k)
		}
	}
	l.lastSweep = now
}

// admit lets n tool calls of caller c start, or refuses them with 429. It
// returns one release per call; each counts the call out (idempotent).
func (g *Gate) admit(c Caller, n int) ([]func(), *refusal) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.maxConcurrent > 0 && g.active[c.bucket]+n > g.maxConcurrent {
		return nil, &refusal{status: http.StatusTooManyRequests, retryAfter: 1, reason: "too many calls in flight",
			msg: fmt.Sprintf("too many requests: at most %d tool calls at once per caller; wait for one to finish", g.maxConcurrent)}
	}
	if g.limiter != nil {
		if wait := g.limiter.take(c.bucket, n, g.now()); wait > 0 {
			secs := int(math.Ceil(wait.Seconds()))
			return nil, &refusal{status: http.StatusTooManyRequests, retryAfter: secs, reason: "rate limit",
				msg: fmt.Sprintf("too many requests: at most %d tool calls per minute per caller (initialize counts as one); retry in %d s", int(g.limiter.perMinute), secs)}
		}
	}
	g.active[c.bucket] += n
	if g.inflight == 0 {
		g.idle = make(chan struct{})
	}
	g.inflight += n
	rels := make([]func(), n)
	for i := range rels {
		rels[i] = sync.OnceFunc(func() { g.release(c.bucket) })
	}
	return rels, nil
}

func (g *Gate) release(bucket string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.active[bucket]--; g.active[bucket] <= 0 {
		delete(g.active, bucket)
	}
	if g.inflight--; g.inflight == 0 {
		close(g.idle)
	}
}

// InFlight is the number of tool calls running now.
func (g *Gate) InFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inflight
}

// Wait returns when no tool call is in flight (their answers written), or
// with ctx's error.
func (g *Gate) Wait(ctx context.Context) error {
	for {
		g.mu.Lock()
		if g.inflight == 0 {
			g.mu.Unlock()
			return nil
		}
		idle := g.idle
		g.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
