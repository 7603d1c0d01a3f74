package routertest

import (
	"slices"
	"sync"
	"time"
)

// Inbox holds what a test client's reader goroutine received and the test
// has not consumed yet, and lets the test wait for an item: the WebSocket
// Client's frames here, the Socket.IO tests' Engine.IO messages and driver
// lines. It is safe for concurrent use; make it with NewInbox.
type Inbox[T any] struct {
	mu    sync.Mutex
	items []T  // unconsumed, in arrival order
	ended bool // nothing more will arrive
	wake  chan struct{}
}

// NewInbox returns an empty inbox.
func NewInbox[T any]() *Inbox[T] { return &Inbox[T]{wake: make(chan struct{}, 1)} }

// Add appends items, as the reader receives them.
func (b *Inbox[T]) Add(items ...T) {
	b.mu.Lock()
	b.items = append(b.items, items...)
	b.mu.Unlock()
	b.signal()
}

// End records that nothing more will arrive (the reader ended).
func (b *Inbox[T]) End() {
	b.mu.Lock()
	b.ended = true
	b.mu.Unlock()
	b.signal()
}

func (b *Inbox[T]) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Next waits up to d for the first unconsumed item matching pred and
// removes it. ok is false when d passed, or the inbox ended, without one.
func (b *Inbox[T]) Next(pred func(T) bool, d time.Duration) (item T, ok bool) {
	deadline := time.After(d)
	for {
		b.mu.Lock()
		if i := slices.IndexFunc(b.items, pred); i >= 0 {
			item = b.items[i]
			b.items = slices.Delete(b.items, i, i+1)
			b.mu.Unlock()
			return item, true
		}
		ended := b.ended
		b.mu.Unlock()
		if ended {
			return item, false
		}
		select {
		case <-b.wake:
		case <-deadline:
			return item, false
		}
	}
}

// WaitEnd waits up to d for the inbox to end and reports whether it did.
func (b *Inbox[T]) WaitEnd(d time.Duration) bool {
	deadline := time.After(d)
	for {
		if b.Ended() {
			return true
		}
		select {
		case <-b.wake:
		case <-deadline:
			return b.Ended()
		}
	}
}

// Ended reports whether the inbox ended.
func (b *Inbox[T]) Ended() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ended
}

// Has reports whether an unconsumed item matches pred.
func (b *Inbox[T]) Has(pred func(T) bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.ContainsFunc(b.items, pred)
}

// Drop removes every unconsumed item matching pred.
func (b *Inbox[T]) Drop(pred func(T) bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.items = slices.DeleteFunc(b.items, pred)
}

// Pending returns a copy of the unconsumed items, for failure messages.
func (b *Inbox[T]) Pending() []T {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.items)
}
