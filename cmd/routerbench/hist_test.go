package main

import (
	"math"
	"testing"
	"time"
)

func TestBucketsCoverEveryValue(t *testing.T) {
	for _, v := range []uint64{0, 1, 63, 64, 127, 128, 129, 255, 256, 1000, 12345, 1 << 20, 1<<34 - 1} {
		i := bucketOf(v)
		low, width := bucketRange(i)
		if v < low || v >= low+width {
			t.Errorf("value %d in bucket %d = [%d, %d)", v, i, low, low+width)
		}
		if width > 1 && float64(width)/float64(low) > 1.0/subBuckets+1e-9 {
			t.Errorf("bucket %d = [%d, %d) is wider than 1/%d of its values", i, low, low+width, subBuckets)
		}
	}
	if got := bucketOf(1 << 40); got != numBuckets-1 {
		t.Errorf("a huge value goes to bucket %d, want the last (%d)", got, numBuckets-1)
	}
}

func TestBucketsAreContiguous(t *testing.T) {
	next := uint64(0)
	for i := range numBuckets {
		low, width := bucketRange(i)
		if low != next {
			t.Fatalf("bucket %d starts at %d, want %d", i, low, next)
		}
		next = low + width
	}
}

func TestQuantiles(t *testing.T) {
	var h histogram
	for v := 1; v <= 10000; v++ { // 1µs to 10ms, uniform
		h.record(time.Duration(v) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5 * time.Millisecond}, {0.9, 9 * time.Millisecond}, {0.99, 9900 * time.Microsecond}, {1, 10 * time.Millisecond}} {
		got := h.quantile(c.q)
		if rel := math.Abs(float64(got-c.want)) / float64(c.want); rel > 1.0/subBuckets {
			t.Errorf("quantile(%v) = %v, want %v within %.1f%%", c.q, got, c.want, 100.0/subBuckets)
		}
	}
	s := h.summary()
	if s.Count != 10000 || s.Min != 0.001 || s.Max != 10 || math.Abs(s.Mean-5.0005) > 1e-9 {
		t.Errorf("summary = %+v", s)
	}
}

func TestQuantileStaysWithinMinAndMax(t *testing.T) {
	var h histogram
	h.record(1000 * time.Microsecond) // in a bucket 16µs wide
	if got := h.quantile(0.5); got != time.Millisecond {
		t.Errorf("the only value is 1ms, quantile(0.5) = %v", got)
	}
}

func TestMerge(t *testing.T) {
	var a, b, all histogram
	for v := range 500 {
		d := time.Duration(v*v) * time.Microsecond
		all.record(d)
		if v%2 == 0 {
			a.record(d)
		} else {
			b.record(d)
		}
	}
	var m histogram
	m.merge(&a)
	m.merge(&b)
	m.merge(&histogram{}) // empty: no change
	if m.summary() != all.summary() {
		t.Errorf("merged %+v, want %+v", m.summary(), all.summary())
	}
}

func TestEmptyAndNegative(t *testing.T) {
	var h histogram
	if h.summary() != (latency{}) || h.quantile(0.99) != 0 {
		t.Errorf("empty histogram: %+v", h.summary())
	}
	h.record(-time.Second) // clocks may disagree by a little: counts as zero
	if s := h.summary(); s.Count != 1 || s.Max != 0 {
		t.Errorf("negative duration: %+v", s)
	}
}
