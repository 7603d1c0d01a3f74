package contract

import (
	"errors"
	"unicode/utf8"
)

// ErrBadToken is returned by Unescape when a token holds a byte that Escape
// never writes or a malformed %XX sequence.
var ErrBadToken = errors.New("malformed subject token")

const upperHex = "0123456789ABCDEF"

// safeByte reports whether b stays as it is in a subject token.
func safeByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-'
}

// Escape turns a name into one NATS subject token: bytes [A-Za-z0-9_-]
// stay, every other byte becomes %XX with upper-case hex (room "a.b c" is
// token "a%2Eb%20c"). The empty name has no token; validate names first.
func Escape(name string) string {
	n := 0
	for i := 0; i < len(name); i++ {
		if !safeByte(name[i]) {
			n++
		}
	}
	if n == 0 {
		return name
	}
	return string(AppendEscaped(make([]byte, 0, len(name)+2*n), name))
}

// AppendEscaped appends the token of name to dst, as Escape does.
func AppendEscaped(dst []byte, name string) []byte {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if safeByte(c) {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', upperHex[c>>4], upperHex[c&0xF])
	}
	return dst
}

// Unescape turns a subject token back into the name it stands for. It
// accepts only what Escape writes: safe bytes and %XX with upper-case hex
// for every other byte, so each name has exactly one token.
func Unescape(token string) (string, error) {
	n := 0
	for i := 0; i < len(token); i++ {
		c := token[i]
		if c == '%' {
			n++
			continue
		}
		if !safeByte(c) {
			return "", ErrBadToken
		}
	}
	if n == 0 {
		return token, nil
	}
	out := make([]byte, 0, len(token))
	for i := 0; i < len(token); i++ {
		c := token[i]
		if c != '%' {
			out = append(out, c)
			continue
		}
		if i+2 >= len(token) {
			return "", ErrBadToken
		}
		hi, lo := unhex(token[i+1]), unhex(token[i+2])
		if hi < 0 || lo < 0 {
			return "", ErrBadToken
		}
		b := byte(hi<<4 | lo)
		if safeByte(b) {
			return "", ErrBadToken
		}
		out = append(out, b)
		i += 2
	}
	return string(out), nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// validText reports whether s is 1..max bytes of valid UTF-8 without control
// characters: the rule for room, event and user names.
func validText(s string, max int) bool {
	if len(s) == 0 || len(s) > max || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// ValidRoomName reports whether s may name a room: 1..maxBytes bytes of
// UTF-8 without control characters, maxBytes being routerd's
// limits.max_name_bytes (128 by default).
func ValidRoomName(s string, maxBytes int) bool { return validText(s, maxBytes) }

// MaxSIDBytes bounds a socket id given as a target: routerd's own are 22
// bytes.
const MaxSIDBytes = 64

// ValidSID reports whether s may be a socket id: 1..MaxSIDBytes bytes of
// [A-Za-z0-9_-], so one subject token as it is.
func ValidSID(s string) bool {
	return len(s) > 0 && len(s) <= MaxSIDBytes && Escape(s) == s
}

// MaxUserBytes bounds a user name (a JWT sub, an auth backend's user).
const MaxUserBytes = 256

// ValidUser reports whether s may name a user: 1..MaxUserBytes bytes of
// UTF-8 without control characters.
func ValidUser(s string) bool { return validText(s, MaxUserBytes) }

// MaxEventBytes bounds event names.
const MaxEventBytes = 64

// ValidEventName reports whether s may name an event: 1..MaxEventBytes
// bytes of UTF-8 without control characters. Names starting with $
// ($join, $leave) are valid but reserved: clients may not emit them.
func ValidEventName(s string) bool { return validText(s, MaxEventBytes) }
