package socketio

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/routerd/routerd/router"
)

// offsetsOf lists the offsets of the entries from number i on.
func offsetsOf(b *backlog, i uint64) string {
	var out []string
	for _, p := range b.from(i, 1<<20) {
		out = append(out, string(p.offset))
	}
	return fmt.Sprint(out)
}

// TestBacklog: packets are kept in order within both bounds, the oldest
// going first; a client resumes after an offset it names among the kept
// ones, or after the last one removed (confirmed or dropped), and with
// any other offset not at all.
func TestBacklog(t *testing.T) {
	b := newBacklog(3, 10)
	if _, ok := b.after("a"); ok {
		t.Fatal("an empty backlog resumes an offset it never had")
	}
	b.add([]byte("a"), []byte("11"))
	b.add([]byte("b"), []byte("22"))
	b.add([]byte("c"), []byte("33"))
	if i, ok := b.after("a"); !ok || offsetsOf(b, i) != "[b c]" {
		t.Fatalf("after a: %d %v %s", i, ok, offsetsOf(b, i))
	}
	if i, ok := b.after("c"); !ok || offsetsOf(b, i) != "[]" {
		t.Fatalf("after c: %d %v", i, ok)
	}
	b.add([]byte("d"), []byte("44")) // over 3 packets: a goes
	if string(b.head) != "a" || b.first != 1 || offsetsOf(b, b.first) != "[b c d]" {
		t.Fatalf("head %q first %d kept %s", b.head, b.first, offsetsOf(b, b.first))
	}
	if i, ok := b.after("a"); !ok || offsetsOf(b, i) != "[b c d]" {
		t.Fatalf("after the head: %d %v", i, ok)
	}
	b.add([]byte("e"), []byte("5555555")) // over 10 bytes: b and c go
	if string(b.head) != "c" || offsetsOf(b, b.first) != "[d e]" || b.bytes != 9 {
		t.Fatalf("head %q kept %s bytes %d", b.head, offsetsOf(b, b.first), b.bytes)
	}
	for _, off := range []string{"a", "b", "", "zz"} {
		if _, ok := b.after(off); ok {
			t.Fatalf("after %q: resumed", off)
		}
	}
	b.trim(b.next() - 1) // the client confirmed d
	if string(b.head) != "d" || offsetsOf(b, b.first) != "[e]" {
		t.Fatalf("trim: head %q kept %s", b.head, offsetsOf(b, b.first))
	}
	b.add([]byte("f"), make([]byte, 11)) // alone over max_buffer_bytes: kept by nobody
	if string(b.head) != "f" || len(b.entries) != 0 || b.bytes != 0 || b.next() != 6 {
		t.Fatalf("huge: head %q entries %d bytes %d next %d", b.head, len(b.entries), b.bytes, b.next())
	}
	if i, ok := b.after("f"); !ok || i != 6 || offsetsOf(b, i) != "[]" {
		t.Fatalf("after f: %d %v", i, ok)
	}
}

// TestUnitOffset: the offset EncodeEvent appends is found again in the
// unit, binary ones too; units without one (an ack asked, no recovery, not
// an event) have none.
func TestUnitOffset(t *testing.T) {
	offs := &offsets{prefix: "Tg_-"}
	rec, plain := &codec{nsp: "/", offsets: offs}, &codec{nsp: "/"}
	for _, tc := range []struct {
		c    *codec
		ev   router.Event
		want string
	}{
		{rec, router.Event{NS: "chat", Name: "m", Data: json.RawMessage(`"x"`)}, "Tg_-1"},
		{rec, router.Event{NS: "chat", Name: "m", Data: json.RawMessage(`"a,\"b"`), Seq: 17}, "17"},
		{rec, router.Event{NS: "chat", Name: "m", Data: json.RawMessage(`{"$binary":"AQI="}`)}, "Tg_-2"},
		{rec, router.Event{NS: "chat", Name: "m", Data: json.RawMessage(`"x"`), Ack: 3}, ""},
		{plain, router.Event{NS: "chat", Name: "m", Data: json.RawMessage(`1`)}, ""},
	} {
		if got := string(unitOffset(tc.c.EncodeEvent(&tc.ev))); got != tc.want {
			t.Errorf("unitOffset of %+v = %q, want %q", tc.ev, got, tc.want)
		}
	}
	for _, unit := range []string{"", "4", "2", `42["m"]`, `42["m",1]`, `42["m","a b"]`, `431["x"]`, `42["m","` + strings.Repeat("a", 65) + `"]`, `40{"sid":"x"}`, `43["a","b"]`} {
		if got := unitOffset([]byte(unit)); got != nil {
			t.Errorf("unitOffset(%q) = %q", unit, got)
		}
	}
}

// TestUnitOffsetAllocs: finding a unit's offset, which runs for every
// delivery to a recovering socket, allocates nothing.
func TestUnitOffsetAllocs(t *testing.T) {
	c := &codec{nsp: "/x", offsets: &offsets{prefix: "T-"}}
	for _, data := range []string{`{"a":1}`, `{"$binary":"AQI="}`} {
		unit := c.EncodeEvent(&router.Event{NS: "x", Name: "m", Data: json.RawMessage(data)})
		if n := testing.AllocsPerRun(100, func() { _ = unitOffset(unit) }); n != 0 {
			t.Errorf("%s: %v allocations", data, n)
		}
	}
}
