package contract

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	tests := []struct{ name, token string }{
		{"lobby", "lobby"},
		{"A-z_09", "A-z_09"},
		{"a.b c", "a%2Eb%20c"},
		{"100%", "100%25"},
		{"*", "%2A"},
		{">", "%3E"},
		{"a.*.>", "a%2E%2A%2E%3E"},
		{"café", "caf%C3%A9"},
		{"日本", "%E6%97%A5%E6%9C%AC"},
		{"😀", "%F0%9F%98%80"},
		{"tab\there", "tab%09here"},
		{"$join", "%24join"},
		{"%2E", "%252E"},
	}
	for _, tt := range tests {
		if got := Escape(tt.name); got != tt.token {
			t.Errorf("Escape(%q) = %q, want %q", tt.name, got, tt.token)
		}
		got, err := Unescape(tt.token)
		if err != nil || got != tt.name {
			t.Errorf("Unescape(%q) = %q, %v; want %q", tt.token, got, err, tt.name)
		}
	}
}

func TestUnescapeRejects(t *testing.T) {
	for _, tok := range []string{
		"a.b",    // a dot is never in a token
		"a b",    // nor a space
		"%2e",    // lower-case hex
		"%2",     // truncated
		"%",      // truncated
		"%G0",    // not hex
		"%41",    // 'A' is safe and must stay as it is: one token per name
		"*", ">", // wildcards
	} {
		if got, err := Unescape(tok); err == nil {
			t.Errorf("Unescape(%q) = %q, want an error", tok, got)
		}
	}
}

// FuzzEscape checks that every name has one token, made of subject-safe
// bytes, that unescapes to the name.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"lobby", "a.b c", "100%", "*", ">", "café", "😀", "", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		tok := Escape(name)
		if strings.ContainsAny(tok, ". *>\t\r\n") {
			t.Fatalf("Escape(%q) = %q holds a subject metacharacter", name, tok)
		}
		for i := 0; i < len(tok); i++ {
			if !safeByte(tok[i]) && tok[i] != '%' {
				t.Fatalf("Escape(%q) = %q holds byte %#x", name, tok, tok[i])
			}
		}
		back, err := Unescape(tok)
		if err != nil || back != name {
			t.Fatalf("Unescape(Escape(%q)) = %q, %v", name, back, err)
		}
	})
}

// FuzzUnescape checks that whatever Unescape accepts escapes back to itself.
func FuzzUnescape(f *testing.F) {
	for _, s := range []string{"lobby", "a%2Eb%20c", "%25", "%2e", "%", "%41", "caf%C3%A9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		name, err := Unescape(tok)
		if err != nil {
			return
		}
		if again := Escape(name); again != tok {
			t.Fatalf("Escape(Unescape(%q)) = %q", tok, again)
		}
	})
}

func TestValidText(t *testing.T) {
	tests := []struct {
		s    string
		max  int
		want bool
	}{
		{"lobby", 128, true},
		{"a.b c", 128, true},
		{"日本", 6, true},
		{"日本", 5, false},
		{"", 128, false},
		{"a\nb", 128, false},
		{"a\x7fb", 128, false},
		{"a\u0085b", 128, false},
		{"\xff", 128, false},
		{strings.Repeat("x", 128), 128, true},
		{strings.Repeat("x", 129), 128, false},
	}
	for _, tt := range tests {
		if got := validText(tt.s, tt.max); got != tt.want {
			t.Errorf("validText(%q, %d) = %v, want %v", tt.s, tt.max, got, tt.want)
		}
	}
	if !utf8.ValidString(Escape("\xff")) {
		t.Error("tokens are ASCII")
	}
}

func BenchmarkEscape(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = Escape("room name.with dots")
	}
}

func BenchmarkUnescape(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_, _ = Unescape("room%20name%2Ewith%20dots")
	}
}

func TestValidSID(t *testing.T) {
	for s, want := range map[string]bool{
		"3mK8bq0rGfZ1xJY2a7cPnw": true,
		"a":                      true,
		strings.Repeat("a", 64):  true,
		strings.Repeat("a", 65):  false,
		"":                       false,
		"a b":                    false,
		"a.b":                    false,
		"a%2Eb":                  false,
		"*":                      false,
	} {
		if got := ValidSID(s); got != want {
			t.Errorf("ValidSID(%q) = %v, want %v", s, got, want)
		}
	}
}
