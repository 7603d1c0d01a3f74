package bridge

import (
	"context"
	"fmt"
	"testing"
)

func TestSendQueue(t *testing.T) {
	q := newSendQueue(3)
	for i := 0; i < 3; i++ {
		ok, start := q.push([]byte(fmt.Sprint(i)))
		if !ok {
			t.Fatalf("push %d refused below the limit", i)
		}
		if start != (i == 0) {
			t.Fatalf("push %d: start = %v; only the first push into an idle queue starts a flusher", i, start)
		}
	}
	if ok, _ := q.push([]byte("x")); ok || !q.full() {
		t.Fatal("push past the limit accepted, or the queue does not say it is full")
	}
	got := q.take(nil, 1)
	if len(got) != 1 || string(got[0]) != "0" {
		t.Fatalf("take(maxBytes 1) = %q, want the first frame only", got)
	}
	got = q.take(got[:0], 1<<20)
	if len(got) != 2 || string(got[0]) != "1" || string(got[1]) != "2" {
		t.Fatalf("take = %q, want [1 2]", got)
	}
	if ok, start := q.push([]byte("3")); !ok || start {
		t.Fatalf("push while the flusher still runs: ok %v, start %v", ok, start)
	}
	got = q.take(got[:0], 1<<20)
	if got = q.take(got[:0], 1<<20); len(got) != 0 {
		t.Fatalf("take on empty queue = %q", got)
	}
	if ok, start := q.push([]byte("again")); !ok || !start {
		t.Fatalf("push after the flusher ended: ok %v, start %v, want a new flusher", ok, start)
	}
	if start := q.close(true); start {
		t.Fatal("close started a second flusher while one runs")
	}
	if ok, _ := q.push([]byte("late")); ok || q.full() {
		t.Fatal("push accepted after close, or a closed queue counts as full")
	}
	if got = q.take(got[:0], 1<<20); len(got) != 0 {
		t.Fatalf("closed queue with drop still holds %q", got)
	}
	if start := q.close(false); !start {
		t.Fatal("close of an idle queue must start a flusher for the close frame")
	}
}

// TestSendQueueWait: a replay is paced into the first half of the queue, so
// the frames queued meanwhile always fit.
func TestSendQueueWait(t *testing.T) {
	q := newSendQueue(16)
	ctx := context.Background()
	if n, err := q.wait(ctx, 100); err != nil || n != 8 {
		t.Fatalf("empty queue: wait = %d, %v; want 8 (half of 16)", n, err)
	}
	for i := 0; i < 8; i++ {
		q.push([]byte("r"))
	}
	got := make(chan int, 1)
	go func() {
		n, _ := q.wait(ctx, 100)
		got <- n
	}()
	for i := 0; i < 8; i++ { // the other half takes other frames
		if ok, _ := q.push([]byte("x")); !ok {
			t.Fatalf("frame %d refused while a replay waits", i)
		}
	}
	q.take(nil, 9) // the flusher writes 9 of the 16: room again in the first half
	if n := <-got; n != 1 {
		t.Fatalf("wait = %d after a take left 7 queued; want 1", n)
	}
	q.close(true)
	if _, err := q.wait(ctx, 1); err == nil {
		t.Fatal("wait on a closed queue returned no error")
	}
}
