// Package ratelimit is Mesos's framework rate limiting (--rate_limits):
// the RateLimits configuration, checked as the Mesos master checks it at
// startup, and the limiters it describes.
//
// Mesos (src/master/master.cpp, Master::initialize and consume) gives each
// principal listed with a qps its own limiter; a principal listed without
// one is not throttled; every other framework (no principal, or one not
// listed) shares the aggregate default limiter when aggregate_default_qps
// is set, else is not throttled. A limiter grants qps messages a second in
// arrival order; a message waits for its turn. Past capacity messages
// waiting, a new one is dropped and the framework gets an error
// "Message <name> dropped: capacity(<capacity>) exceeded".
//
// Mesos throttles the libprocess messages of driver-based frameworks; meso
// has only v1 HTTP frameworks, so their calls (all but SUBSCRIBE) are what
// is throttled.
package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/codec"
)

// ErrInvalid is returned (wrapped, with Mesos's message) for a
// configuration the Mesos master refuses at startup.
var ErrInvalid = errors.New("ratelimit: invalid rate limits")

// Parse reads a --rate_limits value: a RateLimits message in JSON, or the
// path of a file holding one ("/path" here; "file:///path" is expanded by
// the flag parser before). It checks it as the Mesos master does at
// startup: no principal twice, every qps (and aggregate_default_qps) a
// positive number.
func Parse(value string) (*mesospb.RateLimits, error) {
	text := value
	if strings.HasPrefix(strings.TrimSpace(value), "/") {
		b, err := os.ReadFile(strings.TrimSpace(value))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		text = string(b)
	}
	rl := &mesospb.RateLimits{}
	if err := codec.UnmarshalJSON([]byte(text), rl); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := Validate(rl); err != nil {
		return nil, err
	}
	return rl, nil
}

// Validate is the Mesos master's startup check of RateLimits, with its
// messages. A NaN or infinite qps is not a positive number either.
func Validate(rl *mesospb.RateLimits) error {
	seen := map[string]bool{}
	for _, l := range rl.GetLimits() {
		if seen[l.GetPrincipal()] {
			return fmt.Errorf("%w: Duplicate principal %s found in RateLimits configuration", ErrInvalid, l.GetPrincipal())
		}
		seen[l.GetPrincipal()] = true
		if l.Qps != nil && !positive(l.GetQps()) {
			return fmt.Errorf("%w: Invalid qps: %s. It must be a positive number", ErrInvalid, formatQPS(l.GetQps()))
		}
	}
	if rl.AggregateDefaultQps != nil && !positive(rl.GetAggregateDefaultQps()) {
		return fmt.Errorf("%w: Invalid aggregate_default_qps: %s. It must be a positive number",
			ErrInvalid, formatQPS(rl.GetAggregateDefaultQps()))
	}
	return nil
}

func positive(q float64) bool { return q > 0 && !math.IsInf(q, 1) }

func formatQPS(q float64) string { return strconv.FormatFloat(q, 'g', -1, 64) }

// Limiters holds a limiter per principal and the aggregate default one.
// It is safe for concurrent use. A nil *Limiters throttles nothing.
type Limiters struct {
	mu         sync.Mutex
	principals map[string]*limiter // nil value: listed without qps, not throttled
	def        *limiter            // nil: others are not throttled
}

// limiter is libprocess's RateLimiter with Mesos's BoundedRateLimiter
// count of waiting messages.
type limiter struct {
	interval time.Duration // between permits: 1/qps
	capacity uint64        // most waiting messages; 0 with hasCap false: no bound
	hasCap   bool
	next     time.Time // when the next permit may be granted
	waiting  uint64
}

// New returns the limiters rl describes (rl already valid); nil for a nil
// rl.
func New(rl *mesospb.RateLimits) *Limiters {
	if rl == nil {
		return nil
	}
	ls := &Limiters{principals: map[string]*limiter{}}
	for _, l := range rl.GetLimits() {
		if l.Qps == nil {
			ls.principals[l.GetPrincipal()] = nil
			continue
		}
		ls.principals[l.GetPrincipal()] = newLimiter(l.GetQps(), l.Capacity)
	}
	if rl.AggregateDefaultQps != nil {
		ls.def = newLimiter(rl.GetAggregateDefaultQps(), rl.AggregateDefaultCapacity)
	}
	return ls
}

func newLimiter(qps float64, capacity *uint64) *limiter {
	// A qps so small that its interval does not fit a Duration waits
	// "forever" (146 years) instead of overflowing.
	iv := float64(time.Second) / qps
	if iv > 1<<62 {
		iv = 1 << 62
	}
	l := &limiter{interval: time.Duration(iv)}
	if capacity != nil {
		l.capacity, l.hasCap = *capacity, true
	}
	return l
}

// ExceededError is the drop of a message past a limiter's capacity.
type ExceededError struct{ Capacity uint64 }

// Message is the error Mesos sends the framework for a dropped message
// named name (e.g. "mesos.scheduler.Call").
func (e *ExceededError) Message(name string) string {
	return "Message " + name + " dropped: capacity(" + strconv.FormatUint(e.Capacity, 10) + ") exceeded"
}

func (e *ExceededError) Error() string {
	return "capacity(" + strconv.FormatUint(e.Capacity, 10) + ") exceeded"
}

// Permit is a message's turn: it may be processed at At; Done must be
// called then (or when the message is abandoned) to stop counting it as
// waiting.
type Permit struct {
	At   time.Time
	l    *limiter
	ls   *Limiters
	once sync.Once
}

// Done ends the message's wait.
func (p *Permit) Done() {
	if p == nil || p.l == nil {
		return
	}
	p.once.Do(func() {
		p.ls.mu.Lock()
		p.l.waiting--
		p.ls.mu.Unlock()
	})
}

// Acquire takes a turn for a message of a framework with the given
// principal (hasPrincipal false for none) at now. It returns a nil Permit
// when the framework is not throttled, an *ExceededError when its limiter
// already has capacity messages waiting.
func (ls *Limiters) Acquire(principal string, hasPrincipal bool, now time.Time) (*Permit, error) {
	if ls == nil {
		return nil, nil
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l, listed := ls.principals[principal]
	switch {
	case hasPrincipal && listed:
		if l == nil {
			return nil, nil // listed without qps
		}
	case ls.def != nil:
		l = ls.def
	default:
		return nil, nil
	}
	if l.hasCap && l.waiting >= l.capacity {
		return nil, &ExceededError{Capacity: l.capacity}
	}
	at := now
	if l.next.After(at) {
		at = l.next
	}
	l.next = at.Add(l.interval)
	l.waiting++
	return &Permit{At: at, l: l, ls: ls}, nil
}
