package connheader

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// keep is Keep of a request with headers h, no Host, credentials kept,
// read back.
func keep(h http.Header, max int) http.Header {
	return toHTTP(Keep(&http.Request{Header: h}, max, true))
}

// toHTTP reads back what Keep kept; nil when nothing.
func toHTTP(kept Header) http.Header {
	var out http.Header
	for name, v := range kept.All() {
		if out == nil {
			out = http.Header{}
		}
		out[name] = append(out[name], v)
	}
	return out
}

// headerCost is what h counts against Keep's bound.
func headerCost(h http.Header) int {
	n := 0
	for name, vals := range h {
		for _, v := range vals {
			n += len(name) + len(v) + FieldOverhead
		}
	}
	return n
}

func TestKeepDropsHandshakeHeaders(t *testing.T) {
	t.Parallel()
	h := http.Header{
		"Connection":               {"Upgrade"},
		"Upgrade":                  {"websocket"},
		"Sec-Websocket-Key":        {"dGhlIHNhbXBsZSBub25jZQ=="},
		"Sec-Websocket-Version":    {"13"},
		"Sec-Websocket-Extensions": {"permessage-deflate"},
		"Sec-Websocket-Protocol":   {"routerd.v1"},
		"Cookie":                   {"session=abc", "theme=dark"},
		"Origin":                   {"https://app.example.com"},
		"User-Agent":               {"test"},
		"X-Forwarded-For":          {"203.0.113.7"},
		"X-Empty":                  {},
	}
	want := http.Header{
		"Sec-Websocket-Protocol": {"routerd.v1"},
		"Cookie":                 {"session=abc", "theme=dark"},
		"Origin":                 {"https://app.example.com"},
		"User-Agent":             {"test"},
		"X-Forwarded-For":        {"203.0.113.7"},
	}
	if got := keep(h, 16384); !reflect.DeepEqual(got, want) {
		t.Errorf("Keep = %v, want %v", got, want)
	}
	if got := keep(http.Header{"Upgrade": {"websocket"}}, 16384); got != nil {
		t.Errorf("Keep of handshake headers only = %v, want nil", got)
	}
}

func TestKeepBound(t *testing.T) {
	t.Parallel()
	h := http.Header{
		"A": {strings.Repeat("a", 100)},           // 1 + 100 + 32 = 133
		"B": {strings.Repeat("b", 1000)},          // 1033
		"C": {"c1", "c2"},                         // 2 × 35 = 70
		"D": make([]string, 1000),                 // 1000 empty values: 33000
		"E": {strings.Repeat("e", 10)},            // 43
		"F": {strings.Repeat("f", 2000), "small"}, // 2033 + 38
	}
	tests := []struct {
		max  int
		want []string // the headers kept
	}{
		{max: 0},
		{max: 42},
		{max: 43, want: []string{"E"}},
		{max: 132, want: []string{"C", "E"}}, // A does not fit, smaller ones after it do
		{max: 133, want: []string{"A"}},      // A first, in name order
		{max: 1166, want: []string{"A", "B"}},
		{max: 1235, want: []string{"A", "B", "E"}},
		{max: 1236, want: []string{"A", "B", "C"}},
		{max: 1279, want: []string{"A", "B", "C", "E"}},       // D left out whole, E fits after it
		{max: 16384, want: []string{"A", "B", "C", "E", "F"}}, // D costs far more than its bytes
		{max: 1 << 20, want: []string{"A", "B", "C", "D", "E", "F"}},
		{max: 1100, want: []string{"A", "C", "E"}},
	}
	for _, tt := range tests {
		got := keep(h, tt.max)
		var names []string
		for _, name := range []string{"A", "B", "C", "D", "E", "F"} {
			if vals, ok := got[name]; ok {
				names = append(names, name)
				if !reflect.DeepEqual(vals, h[name]) {
					t.Errorf("max %d: %s = %q, want %q", tt.max, name, vals, h[name])
				}
			}
		}
		if !reflect.DeepEqual(names, tt.want) || len(got) != len(tt.want) {
			t.Errorf("max %d: kept %v, want %v", tt.max, names, tt.want)
		}
		if c := headerCost(got); c > tt.max {
			t.Errorf("max %d: the copy costs %d", tt.max, c)
		}
	}
}

// TestKeepRandom: whatever the headers, the copy is within the bound, holds
// every header it has exactly, and is the same for the same headers.
func TestKeepRandom(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 500; i++ {
		h := http.Header{}
		for j := r.IntN(20); j > 0; j-- {
			name := http.CanonicalHeaderKey(fmt.Sprintf("x-%d", r.IntN(30)))
			for k := r.IntN(4); k > 0; k-- {
				h[name] = append(h[name], strings.Repeat("v", r.IntN(500)))
			}
		}
		max := r.IntN(4000)
		got := keep(h, max)
		if c := headerCost(got); c > max {
			t.Fatalf("%v with max %d: the copy costs %d", h, max, c)
		}
		for name, vals := range got {
			if !reflect.DeepEqual(vals, h[name]) {
				t.Fatalf("%s = %q, want %q", name, vals, h[name])
			}
		}
		if again := keep(h, max); !reflect.DeepEqual(again, got) {
			t.Fatalf("Keep twice: %v, then %v", got, again)
		}
	}
}

// TestKeepIsACopy: changing the request's headers after Keep changes
// nothing in the copy.
func TestKeepIsACopy(t *testing.T) {
	t.Parallel()
	h := http.Header{"A": {"1", "2"}, "B": {"3"}}
	kept := Keep(&http.Request{Header: h}, 1000, true)
	h["A"][0] = "changed"
	h.Add("B", "4")
	want := http.Header{"A": {"1", "2"}, "B": {"3"}}
	if got := toHTTP(kept); !reflect.DeepEqual(got, want) {
		t.Errorf("copy = %v, want %v", got, want)
	}
}

// TestHeaderAll: All yields the values in order and stops when asked to.
func TestHeaderAll(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 20000) // a length of three varint bytes
	kept := Keep(&http.Request{Header: http.Header{"B": {"2", long}, "A": {""}}}, 1<<20, true)
	var got []string
	for name, v := range kept.All() {
		got = append(got, name+"="+v)
	}
	if want := []string{"A=", "B=2", "B=" + long}; !reflect.DeepEqual(got, want) {
		t.Errorf("All = %.40q, want %.40q", got, want)
	}
	n := 0
	kept.All()(func(string, string) bool { n++; return false })
	if n != 1 {
		t.Errorf("All went on after break: %d", n)
	}
	for range (Header{}).All() {
		t.Error("the zero Header yields a value")
	}
}

// TestKeepHostAndCredentials: the request's Host is kept as a header,
// counted against the bound like any; the credentials only when asked for.
func TestKeepHostAndCredentials(t *testing.T) {
	t.Parallel()
	h := http.Header{
		"Cookie":              {"session=abc"},
		"Authorization":       {"Bearer t"},
		"Proxy-Authorization": {"Basic p"},
		"Origin":              {"https://app.example.com"},
		"Upgrade":             {"websocket"},
	}
	r := &http.Request{Host: "app.example.com:8080", Header: h}
	want := http.Header{"Host": {"app.example.com:8080"}, "Origin": {"https://app.example.com"}}
	if got := toHTTP(Keep(r, 16384, false)); !reflect.DeepEqual(got, want) {
		t.Errorf("Keep without credentials = %v, want %v", got, want)
	}
	want["Cookie"], want["Authorization"], want["Proxy-Authorization"] = h["Cookie"], h["Authorization"], h["Proxy-Authorization"]
	if got := toHTTP(Keep(r, 16384, true)); !reflect.DeepEqual(got, want) {
		t.Errorf("Keep with credentials = %v, want %v", got, want)
	}
	if _, ok := r.Header["Host"]; ok {
		t.Errorf("Keep added Host to the request's own headers: %v", r.Header)
	}
	// Host ("Host" + 20 + 32 = 56) is left out like any header over the bound.
	if got := toHTTP(Keep(r, 55, false)); got != nil {
		t.Errorf("Keep within 55 bytes = %v, want nil", got)
	}
	if got := toHTTP(Keep(r, 56, false)); !reflect.DeepEqual(got, http.Header{"Host": {"app.example.com:8080"}}) {
		t.Errorf("Keep within 56 bytes = %v", got)
	}
	for name, want := range map[string]bool{"Cookie": true, "Authorization": true, "Proxy-Authorization": true, "Origin": false, "cookie": false} {
		if got := Credential(name); got != want {
			t.Errorf("Credential(%q) = %v, want %v", name, got, want)
		}
	}
}
