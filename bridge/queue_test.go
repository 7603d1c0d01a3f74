package bridge

import (
	"fmt"
	"testing"
)

func TestSendQueue(t *testing.T) {
	q := newSendQueue(3)
	for i := 0; i < 3; i++ {
		if !q.push([]byte(fmt.Sprint(i))) {
			t.Fatalf("push %d refused below the limit", i)
		}
	}
	if q.push([]byte("x")) {
		t.Fatal("push past the limit accepted")
	}
	select {
	case <-q.wake:
	default:
		t.Fatal("no wake-up after push")
	}
	got := q.take(nil, 1)
	if len(got) != 1 || string(got[0]) != "0" {
		t.Fatalf("take(maxBytes 1) = %q, want the first frame only", got)
	}
	select {
	case <-q.wake:
	default:
		t.Fatal("frames left but no wake-up")
	}
	got = q.take(got[:0], 1<<20)
	if len(got) != 2 || string(got[0]) != "1" || string(got[1]) != "2" {
		t.Fatalf("take = %q, want [1 2]", got)
	}
	if got = q.take(got[:0], 1<<20); len(got) != 0 {
		t.Fatalf("take on empty queue = %q", got)
	}
	if !q.push([]byte("again")) {
		t.Fatal("push refused after draining")
	}
	q.close()
	if q.push([]byte("late")) {
		t.Fatal("push accepted after close")
	}
	if got = q.take(got[:0], 1<<20); len(got) != 0 {
		t.Fatalf("closed queue still holds %q", got)
	}
}
