package hosting

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/server"
)

// Sessions are bounded and bound to their caller. mcp-go's stateful session
// manager checks only an id's format: any well-formed id is accepted, an id
// works after DELETE, a session made with one token serves another, and
// nothing caps how many there are (40,000 initialize calls held half a
// gigabyte). The Gate gives mcp-go its own manager (through mcp-go's
// SessionIdManagerResolver seam) that issues unguessable ids, knows which
// caller each belongs to, answers 404 for an id that is unknown, deleted,
// expired or another caller's, and counts them: at most MaxSessions in all
// and MaxSessionsPerCaller per caller, streamable HTTP sessions and legacy
// SSE streams alike. An initialize is admitted only when a session is free.

// sessionRegistry is the sessions the Gate issued.
type sessionRegistry struct {
	max, perCaller int
	ttl            time.Duration
	now            func() time.Time

	mu        sync.Mutex
	byID      map[string]*session
	byCaller  map[string]int // sessions and reservations per caller bucket
	reserved  int            // reservations not yet turned into sessions
	lastSweep time.Time
}

type session struct {
	owner string // the caller's bucket
	last  time.Time
	sse   bool // a legacy SSE stream: it ends with its connection, not by idling
}

func newSessionRegistry(o Options, now func() time.Time) *sessionRegistry {
	return &sessionRegistry{max: o.MaxSessions, perCaller: o.MaxSessionsPerCaller, ttl: o.SessionIdleTimeout, now: now,
		byID: map[string]*session{}, byCaller: map[string]int{}}
}

// reservation holds a session's place while its initialize runs.
type reservation struct {
	r     *sessionRegistry
	owner string
	once  sync.Once
	used  bool
}

// reserve holds a place for a new session of c, or refuses: 429 when c has
// all of its own, 503 when the server has all it may hold.
func (r *sessionRegistry) reserve(c Caller) (*reservation, *refusal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sweepLocked()
	switch {
	case r.perCaller > 0 && r.byCaller[c.bucket] >= r.perCaller:
		return nil, &refusal{status: http.StatusTooManyRequests, retryAfter: 60, reason: "sessions per caller",
			msg: fmt.Sprintf("too many sessions: at most %d per caller; end unused ones (HTTP DELETE with their Mcp-Session-Id) or wait for idle ones to expire (%s)", r.perCaller, r.ttl)}
	case r.max > 0 && len(r.byID)+r.reserved >= r.max:
		return nil, &refusal{status: http.StatusServiceUnavailable, retryAfter: 60, reason: "sessions in all",
			msg: "service unavailable: the server holds as many sessions as it may; retry later"}
	}
	r.byCaller[c.bucket]++
	r.reserved++
	return &reservation{r: r, owner: c.bucket}, nil
}

// release gives the place back unless a session took it.
func (res *reservation) release() {
	res.once.Do(func() {
		res.r.mu.Lock()
		defer res.r.mu.Unlock()
		res.r.reserved--
		if !res.used {
			res.r.dropCallerLocked(res.owner)
		}
	})
}

// add turns a reservation into the session id.
func (res *reservation) add(id string, sse bool) {
	r := res.r
	r.mu.Lock()
	r.byID[id] = &session{owner: res.owner, last: r.now(), sse: sse}
	res.used = true
	r.mu.Unlock()
	res.release()
}

func (r *sessionRegistry) dropCallerLocked(owner string) {
	if r.byCaller[owner]--; r.byCaller[owner] <= 0 {
		delete(r.byCaller, owner)
	}
}

// remove forgets a session.
func (r *sessionRegistry) remove(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.removeLocked(id)
}

func (r *sessionRegistry) removeLocked(id string) {
	if s, ok := r.byID[id]; ok {
		delete(r.byID, id)
		r.dropCallerLocked(s.owner)
	}
}

// sweepLocked forgets sessions idle for longer than the time-out (mcp-go's
// own sweeper forgets its state of them likewise).
func (r *sessionRegistry) sweepLocked() {
	now := r.now()
	if r.ttl <= 0 || now.Sub(r.lastSweep) < r.ttl/10 {
		return
	}
	r.lastSweep = now
	for id, s := range r.byID {
		if !s.sse && now.Sub(s.last) > r.ttl {
			r.removeLocked(id)
		}
	}
}

// errSession is what mcp-go answers with 404 "Invalid session ID".
var errSession = errors.New("unknown session")

// validate checks that id is a live session of owner, and marks it used.
func (r *sessionRegistry) validate(id, owner string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.byID[id]
	switch {
	case !ok || s.sse:
		return errSession
	case r.ttl > 0 && r.now().Sub(s.last) > r.ttl:
		r.removeLocked(id)
		return errSession
	case s.owner != owner:
		return errSession // another caller's: no different answer, so as not to reveal it
	}
	s.last = r.now()
	return nil
}

// count is the number of live sessions (and reservations) of c, for tests and logs.
func (r *sessionRegistry) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byID) + r.reserved
}

// newSessionID is "mcp-session-" and 128 random bits, as mcp-go's ids look.
func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "mcp-session-" + hex.EncodeToString(b[:])
}

type reservationKey struct{}

// SessionIDs is the session id manager the Gate gives mcp-go's streamable
// HTTP server: server.WithSessionIdManagerResolver(gate.SessionIDs()).
func (g *Gate) SessionIDs() server.SessionIdManagerResolver { return sessionResolver{g.sessions} }

type sessionResolver struct{ r *sessionRegistry }

// ResolveSessionIdManager binds the manager to the request's caller (r is nil
// when mcp-go's sweeper ends idle sessions).
func (s sessionResolver) ResolveSessionIdManager(r *http.Request) server.SessionIdManager {
	m := sessionManager{r: s.r}
	if r != nil {
		m.ctx = r.Context()
		if c, ok := CallerFrom(m.ctx); ok {
			m.owner = c.bucket
		}
	}
	return m
}

type sessionManager struct {
	r     *sessionRegistry
	ctx   context.Context
	owner string
}

// Generate issues the id of a session whose initialize the Gate admitted
// (it holds a reservation); anything else gets an id that no request can use.
func (m sessionManager) Generate() string {
	id := newSessionID()
	if m.ctx != nil {
		if res, ok := m.ctx.Value(reservationKey{}).(*reservation); ok {
			res.add(id, false)
		}
	}
	return id
}

func (m sessionManager) Validate(id string) (bool, error) {
	return false, m.r.validate(id, m.owner)
}

// Terminate ends a session: on DELETE (the Gate has checked that it is the
// caller's own) or when mcp-go's sweeper finds it idle.
func (m sessionManager) Terminate(id string) (bool, error) {
	m.r.remove(id)
	return false, nil
}
