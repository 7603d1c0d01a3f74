package main

import (
	"bytes"
	"strconv"
)

// stamp is what a benchmark message carries: when it was sent, and which
// message of which publisher it is.
type stamp struct {
	sent int64  // unix ns
	pub  uint32 // publisher number
	seq  uint32 // the publisher's message number, from 1
}

// The benchmark payload is {"t":<sent>,"q":<pub<<32|seq>,"p":"<pad>"}. A
// JSON string holds a quote only escaped, so payloadKey appears in a frame
// only where an object starts with the key "t".
var (
	payloadKey = []byte(`{"t":`)
	seqKey     = []byte(`,"q":`)
)

// minPayload is the longest payload without padding.
const minPayload = len(`{"t":,"q":,"p":""}`) + 19 + 20

// appendPayload appends the payload of s, padded to size bytes (or to
// minPayload when size is smaller).
func appendPayload(b []byte, s stamp, size int) []byte {
	start := len(b)
	b = append(b, payloadKey...)
	b = strconv.AppendInt(b, s.sent, 10)
	b = append(b, seqKey...)
	b = strconv.AppendUint(b, uint64(s.pub)<<32|uint64(s.seq), 10)
	b = append(b, `,"p":"`...)
	for pad := max(size, minPayload) - (len(b) - start) - 2; pad > 0; pad-- {
		b = append(b, 'x')
	}
	return append(b, `"}`...)
}

// parsePayload finds the benchmark payload in b and reads its stamp.
func parsePayload(b []byte) (stamp, bool) {
	i := bytes.Index(b, payloadKey)
	if i < 0 {
		return stamp{}, false
	}
	b = b[i+len(payloadKey):]
	t, n := leadingNumber(b)
	if n == 0 || !bytes.HasPrefix(b[n:], seqKey) {
		return stamp{}, false
	}
	q, m := leadingNumber(b[n+len(seqKey):])
	if m == 0 {
		return stamp{}, false
	}
	return stamp{sent: int64(t), pub: uint32(q >> 32), seq: uint32(q)}, true
}

// leadingNumber reads the decimal digits b starts with; n is how many.
func leadingNumber(b []byte) (v uint64, n int) {
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		v = v*10 + uint64(b[n]-'0')
		n++
	}
	return v, n
}
