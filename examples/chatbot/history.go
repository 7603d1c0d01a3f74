package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// fetchBatch is how many stored lines one fetch asks for.
const fetchBatch = 256

// history reads rooms' chat lines from routerd's history stream.
type history struct {
	js      jetstream.JetStream
	stream  string
	botName string
	timeout time.Duration
}

// recent returns the last n chat lines ("message" events) kept for the
// room subject, oldest first. ok is false where the namespace keeps no
// history (no such stream, or no JetStream at all).
//
// It reads the subject through an ephemeral consumer that acknowledges
// nothing, filtered to the room's message subject, then deletes it. The
// stream keeps at most the namespace's max_msgs lines per room and event
// name, so that is all one read costs.
func (h history) recent(ctx context.Context, subject string, n int) (lines []line, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	cons, err := h.js.CreateConsumer(ctx, h.stream, jetstream.ConsumerConfig{
		FilterSubject:     subject,
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		InactiveThreshold: time.Minute, // in case the delete below fails
	})
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound), errors.Is(err, jetstream.ErrJetStreamNotEnabled),
		errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount), errors.Is(err, nats.ErrNoResponders):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("history consumer: %w", err)
	}
	defer func() {
		dctx, dcancel := context.WithTimeout(context.Background(), h.timeout)
		defer dcancel()
		_ = h.js.DeleteConsumer(dctx, h.stream, cons.CachedInfo().Name)
	}()
	for pending := cons.CachedInfo().NumPending; pending > 0; {
		batch, err := cons.FetchNoWait(int(min(pending, fetchBatch)))
		if err != nil {
			return nil, true, fmt.Errorf("history fetch: %w", err)
		}
		got := uint64(0)
		for m := range batch.Messages() {
			got++
			if l, ok := parseLine(m.Headers(), m.Data(), h.botName); ok {
				lines = append(lines, l)
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, true, fmt.Errorf("history fetch: %w", err)
		}
		if got == 0 || got >= pending {
			break
		}
		pending -= got
		if len(lines) > 2*n {
			lines = append([]line(nil), lines[len(lines)-n:]...)
		}
	}
	return lines, true, nil
}
