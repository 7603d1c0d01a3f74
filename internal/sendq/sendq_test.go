package sendq

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"
)

// push pushes item and fails the test unless the outcome is the one wanted.
func push(t *testing.T, q *Queue, item string, wantStart bool, wantErr error) {
	t.Helper()
	start, err := q.Push([]byte(item))
	if start != wantStart || !errors.Is(err, wantErr) {
		t.Fatalf("Push(%q) = %v, %v; want %v, %v", item, start, err, wantStart, wantErr)
	}
}

// take takes with maxBytes and fails the test unless it got want.
func take(t *testing.T, q *Queue, maxBytes int, want ...string) {
	t.Helper()
	got := q.Take(nil, maxBytes)
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Fatalf("Take(%d) = %q, want %q", maxBytes, got, want)
	}
}

// waitResult runs q.Wait(ctx, n) on a goroutine of its own.
func waitResult(ctx context.Context, q *Queue, n int) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := q.Wait(ctx, n)
		done <- err
	}()
	return done
}

// blocked fails the test when done delivers within a short while.
func blocked(t *testing.T, done <-chan error, what string) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("%s returned (%v) while it should block", what, err)
	case <-time.After(20 * time.Millisecond):
	}
}

// returned waits for done and returns its error.
func returned(t *testing.T, done <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s still blocks", what)
		return nil
	}
}

// TestQueueOverflow: the queue refuses past its limit without blocking, and
// says why, so that its owner can close the slow consumer.
func TestQueueOverflow(t *testing.T) {
	q := New(3, nil)
	push(t, q, "0", true, nil)
	push(t, q, "1", false, nil)
	push(t, q, "2", false, nil)
	push(t, q, "x", false, ErrFull)
	take(t, q, 1, "0")
	push(t, q, "3", false, nil) // room again; the consumer still runs
	push(t, q, "y", false, ErrFull)
	take(t, q, math.MaxInt, "1", "2", "3")
	take(t, q, math.MaxInt)
}

// TestQueueConsumer: only a push into an idle queue starts a consumer, and
// a Take that finds nothing ends it.
func TestQueueConsumer(t *testing.T) {
	q := New(8, nil)
	push(t, q, "a", true, nil)
	push(t, q, "b", false, nil)
	take(t, q, math.MaxInt, "a", "b")
	push(t, q, "c", false, nil) // the consumer has not yet found the queue empty
	take(t, q, math.MaxInt, "c")
	take(t, q, math.MaxInt)
	push(t, q, "d", true, nil)
}

// TestQueueTakeBytes: a Take coalesces up to maxBytes, and always at least
// one item, however large.
func TestQueueTakeBytes(t *testing.T) {
	q := New(8, nil)
	for _, s := range []string{"aaaa", "bb", "cc", "d"} {
		q.Push([]byte(s))
	}
	take(t, q, 2, "aaaa")
	take(t, q, 4, "bb", "cc")
	take(t, q, 0, "d")
}

// TestQueueClose: a closed queue takes nothing more; what it held is still
// taken unless dropped; a close of an idle queue starts a consumer (to end
// the connection), and one while a consumer runs does not.
func TestQueueClose(t *testing.T) {
	q := New(4, nil)
	push(t, q, "a", true, nil)
	if q.Close(false) {
		t.Fatal("Close started a second consumer while one runs")
	}
	push(t, q, "late", false, ErrClosed)
	take(t, q, math.MaxInt, "a")
	take(t, q, math.MaxInt)

	q = New(4, nil)
	push(t, q, "a", true, nil)
	take(t, q, math.MaxInt, "a")
	take(t, q, math.MaxInt)
	if !q.Close(false) {
		t.Fatal("Close of an idle queue must start a consumer")
	}

	q = New(4, nil)
	push(t, q, "a", true, nil)
	q.Close(true)
	take(t, q, math.MaxInt) // dropped
	if _, err := q.Push([]byte("b")); !errors.Is(err, ErrClosed) {
		t.Fatalf("a closed queue refused a push with %v, want ErrClosed (not ErrFull: it is no slow consumer)", err)
	}
}

// TestQueueWaitReserve: a replay is paced into the first half of the queue,
// so the items queued meanwhile always fit.
func TestQueueWaitReserve(t *testing.T) {
	for _, tc := range []struct{ limit, first int }{{16, 8}, {15, 8}, {2, 1}, {1, 1}} {
		q := New(tc.limit, nil)
		if n, err := q.Wait(context.Background(), 100); err != nil || n != tc.first {
			t.Fatalf("limit %d, empty: Wait = %d, %v; want %d", tc.limit, n, err, tc.first)
		}
		if n, _ := q.Wait(context.Background(), 1); n != 1 {
			t.Fatalf("limit %d: Wait(1) = %d, want at most what was asked", tc.limit, n)
		}
	}

	q := New(16, nil)
	for range 8 {
		q.Push([]byte("r"))
	}
	done := waitResult(context.Background(), q, 100)
	blocked(t, done, "Wait with the first half full")
	for i := range 8 { // the other half takes other items
		if _, err := q.Push([]byte("x")); err != nil {
			t.Fatalf("item %d refused while a replay waits: %v", i, err)
		}
	}
	blocked(t, done, "Wait with the queue full")
	q.Take(nil, 8) // 8 of 16 taken: the first half is still full
	blocked(t, done, "Wait with 8 of 16 queued")
	q.Take(nil, 1) // 7 left: room for one
	if err := returned(t, done, "Wait after a take made room"); err != nil {
		t.Fatal(err)
	}
	if n, _ := q.Wait(context.Background(), 100); n != 1 {
		t.Fatalf("Wait with 7 of 16 queued = %d, want 1", n)
	}
}

// TestQueueWaitContext: a Wait ends with its context.
func TestQueueWaitContext(t *testing.T) {
	q := New(2, nil)
	q.Push([]byte("a"))
	ctx, cancel := context.WithCancel(context.Background())
	done := waitResult(ctx, q, 1)
	blocked(t, done, "Wait on a full first half")
	cancel()
	if err := returned(t, done, "Wait after its context ended"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want context.Canceled", err)
	}
	if _, err := q.Wait(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with an ended context = %v, want context.Canceled", err)
	}
}

// TestQueueCloseWakesWaiters: every Wait returns ErrClosed once the queue
// closes, and takes after the close still work.
func TestQueueCloseWakesWaiters(t *testing.T) {
	q := New(2, nil)
	q.Push([]byte("a"))
	var waits []<-chan error
	for range 3 {
		waits = append(waits, waitResult(context.Background(), q, 1))
	}
	for _, done := range waits {
		blocked(t, done, "Wait on a full first half")
	}
	q.Close(false)
	for _, done := range waits {
		if err := returned(t, done, "Wait after Close"); !errors.Is(err, ErrClosed) {
			t.Fatalf("Wait = %v, want ErrClosed", err)
		}
	}
	take(t, q, math.MaxInt, "a") // does not signal the closed channel
	if _, err := q.Wait(context.Background(), 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait on a closed queue = %v, want ErrClosed", err)
	}
	q.Close(true) // a second close only drops
}

// TestQueueStarted: every consumer start is counted in the WaitGroup given
// to New, whether Push or Close reported it.
func TestQueueStarted(t *testing.T) {
	var started sync.WaitGroup
	q := New(4, &started)
	var consumers sync.WaitGroup
	consume := func() {
		defer started.Done()
		for len(q.Take(nil, math.MaxInt)) > 0 {
		}
	}
	for range 3 {
		if start, _ := q.Push([]byte("a")); start {
			consumers.Go(consume)
		}
		consumers.Wait()
	}
	if q.Close(false) {
		consumers.Go(consume)
	}
	started.Wait()
	consumers.Wait()
}

// TestQueueConcurrent: producers, pacers and a consumer started on demand,
// then a close; every item pushed without error is taken once, in order,
// and the consumer counted is done once the owner's wait returns.
func TestQueueConcurrent(t *testing.T) {
	const producers, each = 4, 200
	var started sync.WaitGroup
	q := New(64, &started)
	var mu sync.Mutex
	got := map[string]int{}
	next := [producers]int{} // each producer's next index expected
	consume := func() {
		defer started.Done()
		var batch [][]byte
		for {
			batch = q.Take(batch[:0], 64)
			if len(batch) == 0 {
				return
			}
			mu.Lock()
			for _, b := range batch {
				got[string(b)]++
				var p, i int
				fmt.Sscanf(string(b), "%d.%d", &p, &i)
				if i < next[p] {
					t.Errorf("item %s taken after %d.%d", b, p, next[p]-1)
				}
				next[p] = i + 1
			}
			mu.Unlock()
			clear(batch)
		}
	}
	var pushed sync.Map
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				if p%2 == 0 {
					if _, err := q.Wait(context.Background(), 1); err != nil {
						return
					}
				}
				item := fmt.Sprintf("%d.%d", p, i)
				start, err := q.Push([]byte(item))
				if err == nil {
					pushed.Store(item, true)
				}
				if start {
					go consume()
				}
			}
		})
	}
	wg.Wait()
	if q.Close(false) {
		go consume()
	}
	started.Wait()
	n := 0
	pushed.Range(func(k, _ any) bool {
		n++
		if got[k.(string)] != 1 {
			t.Errorf("item %s taken %d times", k, got[k.(string)])
		}
		return true
	})
	if len(got) != n {
		t.Errorf("%d items taken, %d pushed", len(got), n)
	}
}

// TestQueueAllocs: once its backing array has grown, queueing and taking
// allocate nothing.
func TestQueueAllocs(t *testing.T) {
	q := New(16, nil)
	item := []byte("frame")
	batch := make([][]byte, 0, 16)
	q.Wait(context.Background(), 1) // the wait channel is made once
	allocs := testing.AllocsPerRun(100, func() {
		for range 8 {
			q.Push(item)
		}
		batch = q.Take(batch[:0], math.MaxInt)
		batch = q.Take(batch[:0], math.MaxInt)
		if _, err := q.Wait(context.Background(), 8); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per push-take round, want 0", allocs)
	}
}

func BenchmarkQueue(b *testing.B) {
	q := New(1024, nil)
	item := []byte("frame")
	batch := make([][]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		for range 32 {
			q.Push(item)
		}
		batch = q.Take(batch[:0], 1<<20)
		batch = q.Take(batch[:0], 1<<20)
	}
}
