package relay

import (
	"bytes"
	"slices"
	"testing"
)

// TestBatch: a batch holds its messages, text and binary, in order, in the
// encoding nodes exchange; anything that does not start like a batch is
// one text message; a batch cut short yields what it holds whole.
func TestBatch(t *testing.T) {
	msgs := []Message{{Data: []byte(`42["e"]`)}, {Binary: true, Data: []byte{1, 2, 3}}, {Data: nil}}
	var batch []byte
	for _, m := range msgs {
		batch = AppendBatch(batch, m)
	}
	// The wire: 0, then kind, uvarint length, bytes.
	if want := []byte("\x00t\x0742[\"e\"]b\x03\x01\x02\x03t\x00"); !bytes.Equal(batch, want) {
		t.Fatalf("batch %q, want %q", batch, want)
	}
	read := func(b []byte) []Message {
		var got []Message
		_ = EachMessage(b, func(m Message) error {
			got = append(got, m)
			return nil
		})
		return got
	}
	same := func(a, b Message) bool { return a.Binary == b.Binary && bytes.Equal(a.Data, b.Data) }
	if got := read(batch); !slices.EqualFunc(got, msgs, same) {
		t.Fatalf("read back %v", got)
	}
	if got := read([]byte("3probe")); !slices.EqualFunc(got, []Message{{Data: []byte("3probe")}}, same) {
		t.Fatalf("a text message reads as %v", got)
	}
	if got := read(nil); len(got) != 0 {
		t.Fatalf("nothing reads as %v", got)
	}
	if got := read(batch[:len(batch)-3]); !slices.EqualFunc(got, msgs[:1], same) {
		t.Fatalf("a batch cut short reads as %v", got)
	}
	if got := read([]byte("\x00t\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01x")); len(got) != 0 {
		t.Fatalf("a batch with a huge length reads as %v", got)
	}
}
