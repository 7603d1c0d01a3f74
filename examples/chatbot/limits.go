package main

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Refusal reasons (metrics label values).
const (
	reasonUserLimit = "user_limit"
	reasonRoomLimit = "room_limit"
	reasonStopping  = "stopping"
)

// maxBuckets bounds the buckets a limiter keeps before it forgets the idle
// ones.
const maxBuckets = 10000

// limiter holds one token bucket per user and per room. Its state is this
// instance's: with several instances in the queue group, a user may get up
// to one limit's worth from each (README, "Trade-offs").
type limiter struct {
	user, room Limit
	mu         sync.Mutex
	buckets    map[string]*bucket // "user:.." or "room:.."; guarded by mu
}

type bucket struct {
	r    *rate.Limiter
	seen time.Time
}

// newLimiter returns a limiter with the user and room limits, its buckets full.
func newLimiter(user, room Limit) *limiter {
	return &limiter{user: user, room: room, buckets: map[string]*bucket{}}
}

// allow takes one question from the user's bucket and, when room is not
// empty, from the room's; or takes nothing and says which one refused and
// how long until it would allow one.
func (l *limiter) allow(user, room string, now time.Time) (refusedBy string, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	type take struct {
		key, reason string
		lim         Limit
	}
	takes := []take{{"user:" + user, reasonUserLimit, l.user}}
	if room != "" {
		takes = append(takes, take{"room:" + room, reasonRoomLimit, l.room})
	}
	var got []*rate.Reservation
	for _, t := range takes {
		if t.lim.off() {
			continue
		}
		r := l.bucket(t.key, t.lim, now).ReserveN(now, 1)
		if d := r.DelayFrom(now); d > 0 {
			r.CancelAt(now)
			for _, g := range got {
				g.CancelAt(now)
			}
			return t.reason, d
		}
		got = append(got, r)
	}
	return "", 0
}

// bucket returns the bucket of key, made full when new.
func (l *limiter) bucket(key string, lim Limit, now time.Time) *rate.Limiter {
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.forget(now)
		}
		b = &bucket{r: rate.NewLimiter(rate.Every(lim.Per/time.Duration(lim.N)), lim.N)}
		l.buckets[key] = b
	}
	b.seen = now
	return b.r
}

// forget drops the buckets idle long enough to be full again: a new
// bucket is the same.
func (l *limiter) forget(now time.Time) {
	full := max(l.user.Per, l.room.Per)
	for k, b := range l.buckets {
		if now.Sub(b.seen) >= full {
			delete(l.buckets, k)
		}
	}
}
