package main

import (
	"math"
	"math/bits"
	"time"
)

// Histogram layout: values are whole microseconds; below 2*subBuckets they
// are exact, above it every power-of-two range is cut into subBuckets
// buckets, so a percentile is off by at most 1/subBuckets (1.6%).
const (
	subBuckets = 64
	maxShift   = 27 // values up to 2^34 µs (4.7 hours); larger ones are clamped
	numBuckets = subBuckets*maxShift + 2*subBuckets
)

// histogram counts durations in log-linear buckets. Its zero value is empty
// and usable; the bucket array is allocated on the first record, so an idle
// connection's histogram costs nothing. It is not safe for concurrent use:
// each reader goroutine owns one, and merge combines them afterwards.
type histogram struct {
	counts   []uint64 // numBuckets long once anything is recorded
	n        uint64
	sum      float64 // microseconds
	min, max uint64  // microseconds, exact
}

// record adds one duration; negative ones count as zero.
func (h *histogram) record(d time.Duration) {
	v := uint64(max(d, 0) / time.Microsecond)
	if h.counts == nil {
		h.counts = make([]uint64, numBuckets)
	}
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	h.max = max(h.max, v)
	h.n++
	h.sum += float64(v)
}

// merge adds every value recorded in o to h.
func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, numBuckets)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// bucketOf is the index of the bucket holding v microseconds.
func bucketOf(v uint64) int {
	shift := max(bits.Len64(v)-bits.Len64(2*subBuckets-1), 0)
	if shift > maxShift {
		return numBuckets - 1
	}
	return subBuckets*shift + int(v>>shift)
}

// bucketRange is the smallest value of bucket i and its width.
func bucketRange(i int) (low, width uint64) {
	if i < 2*subBuckets {
		return uint64(i), 1
	}
	shift := i/subBuckets - 1
	return uint64(i-subBuckets*shift) << shift, 1 << shift
}

// quantile returns the value below which a fraction q of the recorded
// values fall: the middle of the bucket holding that rank, kept within the
// exact minimum and maximum.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			low, width := bucketRange(i)
			v := min(max(low+width/2, h.min), h.max)
			return time.Duration(v) * time.Microsecond
		}
	}
	return time.Duration(h.max) * time.Microsecond
}

// latency is a histogram summary in milliseconds, as reported.
type latency struct {
	Count uint64  `json:"count"`
	Min   float64 `json:"min_ms"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

// summary returns the reported figures of h.
func (h *histogram) summary() latency {
	if h.n == 0 {
		return latency{}
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return latency{
		Count: h.n,
		Min:   float64(h.min) / 1000,
		Mean:  h.sum / float64(h.n) / 1000,
		P50:   ms(h.quantile(0.50)),
		P90:   ms(h.quantile(0.90)),
		P99:   ms(h.quantile(0.99)),
		P999:  ms(h.quantile(0.999)),
		Max:   float64(h.max) / 1000,
	}
}
