package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestBinaryRoundTrip: placeholders become {"$binary"} values and back,
// the rest of the JSON text unchanged (key order, spaces, numbers).
func TestBinaryRoundTrip(t *testing.T) {
	in := `["hello",{"_placeholder":true,"num":0}, {"n":1.50,"a":[ { "num" : 1 , "_placeholder" : true } ]}]`
	atts := [][]byte{{1, 2, 3}, {0xff}}
	phs, err := findPlaceholders([]byte(in), len(atts))
	if err != nil {
		t.Fatal(err)
	}
	data := reconstruct([]byte(in), phs, atts)
	if want := `["hello",{"$binary":"AQID"}, {"n":1.50,"a":[ {"$binary":"/w=="} ]}]`; string(data) != want {
		t.Fatalf("reconstruct = %s, want %s", data, want)
	}
	if size := rebuiltSize([]byte(in), phs, atts); size != len(data) {
		t.Fatalf("rebuiltSize = %d, built %d bytes", size, len(data))
	}
	back, got := deconstruct(data)
	if want := `["hello",{"_placeholder":true,"num":0}, {"n":1.50,"a":[ {"_placeholder":true,"num":1} ]}]`; string(back) != want {
		t.Fatalf("deconstruct = %s, want %s", back, want)
	}
	if !reflect.DeepEqual(got, atts) {
		t.Fatalf("attachments %v, want %v", got, atts)
	}

	// Attachments named out of order come back in the order of their
	// placeholders.
	phs, err = findPlaceholders([]byte(`[{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]`), 2)
	if err != nil {
		t.Fatal(err)
	}
	back, got = deconstruct(reconstruct([]byte(`[{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]`), phs, atts))
	if string(back) != `[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]` || !reflect.DeepEqual(got, [][]byte{{0xff}, {1, 2, 3}}) {
		t.Fatalf("out of order: %s %v", back, got)
	}
}

// TestFindPlaceholders: what Socket.IO's decoder takes for a placeholder
// must be exactly {"_placeholder":true,"num":N}, and every attachment is
// named once.
func TestFindPlaceholders(t *testing.T) {
	for _, in := range []string{
		`["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`,
		`["x",{"_placeholder":false,"num":7},{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, // not a placeholder: data
		`["x",{"_placeholder":"true","num":7},{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]`,
		`["x",{"\u005fplaceholder":true,"num":-0},{"_placeholder":true,"num":1}]`, // as JSON.parse reads them
	} {
		if phs, err := findPlaceholders([]byte(in), 2); err != nil || len(phs) != 2 {
			t.Errorf("findPlaceholders(%s) = %v, %v; want 2 placeholders", in, phs, err)
		}
	}
	for _, in := range []string{
		`["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":0}]`,       // named twice
		`["x",{"_placeholder":true,"num":0},[{"_placeholder":true,"num":0}]]`,     // named twice, nested
		`["x",{"_placeholder":true,"num":0}]`,                                     // attachment 1 never named
		`["x"]`,                                                                   // no placeholder at all
		`["x",{"_placeholder":true,"num":2},{"_placeholder":true,"num":0}]`,       // names no attachment
		`["x",{"_placeholder":true,"num":-1},{"_placeholder":true,"num":0}]`,      // negative
		`["x",{"_placeholder":true,"num":1.0},{"_placeholder":true,"num":0}]`,     // not an integer
		`["x",{"_placeholder":true,"num":1e0},{"_placeholder":true,"num":0}]`,     // not written as one
		`["x",{"_placeholder":true,"num":"1"},{"_placeholder":true,"num":0}]`,     // a string
		`["x",{"_placeholder":true},{"_placeholder":true,"num":0}]`,               // no num
		`["x",{"_placeholder":true,"num":1,"x":0},{"_placeholder":true,"num":0}]`, // a member more
		`["x",{"_placeholder":true,"num":1,"num":1},{"_placeholder":true,"num":0}]`,
		`["x",{"_placeholder":true,"_placeholder":true},{"_placeholder":true,"num":0}]`,
		`["x",{"_placeholder":true,"num":99999999999999999999999},{"_placeholder":true,"num":0}]`,
	} {
		if phs, err := findPlaceholders([]byte(in), 2); !errors.Is(err, errPacket) {
			t.Errorf("findPlaceholders(%s) = %v, %v; want errPacket", in, phs, err)
		}
	}
}

// TestRebuiltSize: the attack of the security review (one attachment
// named 1400 times) is refused before anything is built, and the size of
// a packet that is built is known exactly beforehand.
func TestRebuiltSize(t *testing.T) {
	attack := `["file"` + strings.Repeat(`,{"_placeholder":true,"num":0}`, 1400) + `]`
	if _, err := findPlaceholders([]byte(attack), 1); !errors.Is(err, errPacket) {
		t.Fatalf("the attack: %v, want errPacket", err)
	}
	var atts [][]byte
	var b strings.Builder
	b.WriteString(`["file"`)
	for i := range maxAttachments {
		atts = append(atts, bytes.Repeat([]byte{byte(i)}, i*100))
		b.WriteString(`,{"_placeholder" : true, "num":` + strconv.Itoa(i) + `}`)
	}
	b.WriteString(`]`)
	phs, err := findPlaceholders([]byte(b.String()), len(atts))
	if err != nil {
		t.Fatal(err)
	}
	size, data := rebuiltSize([]byte(b.String()), phs, atts), reconstruct([]byte(b.String()), phs, atts)
	if size != len(data) || !json.Valid(data) {
		t.Fatalf("rebuiltSize = %d, built %d bytes (valid JSON: %v)", size, len(data), json.Valid(data))
	}
}

// TestDeconstruct: only values exactly {"$binary":"<base64>"}, written
// as reconstruct writes them, become attachments, and at most
// maxAttachments of them.
func TestDeconstruct(t *testing.T) {
	for _, in := range []string{
		`{"$binary":"AQID","x":1}`, `{"$binary":"!!"}`, `{"$binary":3}`, `"$binary"`, `["$binary"]`,
		`{"$binary":"AQ\nID"}`, `{"$binary":"AQ\r\nID"}`, // line breaks, which base64 decoders skip
		`{"$binary":"AR=="}`,                  // stray bits
		`{"$binary":"AQ"}`,                    // no padding
		`{"$binary":"AQID","$binary":"AQID"}`, // a repeated key
		`{"$binary":"AQID"`,                   // not JSON
	} {
		if out, atts := deconstruct(json.RawMessage(in)); string(out) != in || atts != nil {
			t.Errorf("deconstruct(%s) = %s %v", in, out, atts)
		}
	}
	in := `[` + strings.Repeat(`{"$binary":""},`, maxAttachments) + `{"$binary":"AA=="}]`
	out, atts := deconstruct(json.RawMessage(in))
	if len(atts) != maxAttachments || !strings.HasSuffix(string(out), `{"_placeholder":true,"num":9},{"$binary":"AA=="}]`) {
		t.Fatalf("deconstruct(%s) = %s, %d attachments", in, out, len(atts))
	}
}

// TestScanObjects: the spans reported are the objects' bytes, inner
// objects first; nesting is bounded.
func TestScanObjects(t *testing.T) {
	in := ` [ {"a": {"b":1} }, [ {} ], "{}" ] `
	var got []string
	err := scanObjects([]byte(in), func(o jsonObject) error {
		got = append(got, in[o.start:o.end])
		return nil
	})
	if want := []string{`{"b":1}`, `{"a": {"b":1} }`, `{}`}; err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("scanObjects = %q, %v; want %q", got, err, want)
	}
	deep := strings.Repeat(`[`, maxJSONDepth+1) + strings.Repeat(`]`, maxJSONDepth+1)
	if err := scanObjects([]byte(deep), func(jsonObject) error { return nil }); !errors.Is(err, errPacket) {
		t.Fatalf("nesting %d deep: %v, want errPacket", maxJSONDepth+1, err)
	}
	ok := strings.Repeat(`[`, maxJSONDepth) + strings.Repeat(`]`, maxJSONDepth)
	if err := scanObjects([]byte(ok), func(jsonObject) error { return nil }); err != nil {
		t.Fatalf("nesting %d deep: %v", maxJSONDepth, err)
	}
}
