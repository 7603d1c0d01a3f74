package config

import (
	"cmp"
	"path"
	"strings"
)

// maxNameLen bounds namespace names (docs/protocol.md#names) and node names.
const maxNameLen = 64

// maxPatternLen bounds namespace glob keys; character classes make them
// longer than the names they match.
const maxPatternLen = 256

// ValidNodeName reports whether s is a node name: 1 to 64 visible ASCII
// characters (no spaces and no control characters: it is the embedded NATS
// server's name and a header value). A host name is one.
func ValidNodeName(s string) bool { return validName(s, isNodeNameByte) }

func isNodeNameByte(c byte) bool { return '!' <= c && c <= '~' }

// isNameByte reports whether c may appear in a namespace name.
func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// ValidNamespaceName reports whether s is a namespace name:
// [A-Za-z0-9_-]{1,64}.
func ValidNamespaceName(s string) bool { return validName(s, isNameByte) }

// validName reports whether s has 1 to maxNameLen bytes, each of them ok.
func validName(s string, ok func(byte) bool) bool {
	if len(s) == 0 || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

// ValidNamespacePattern reports whether s is a namespace name or a glob
// pattern of namespace names: name bytes plus "*", "?" and "[...]" classes
// (with an optional leading "^" and "a-z" ranges of name bytes) in the
// syntax of path.Match, at most 256 bytes.
func ValidNamespacePattern(s string) bool {
	if len(s) == 0 || len(s) > maxPatternLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '*' || c == '?' || isNameByte(c):
		case c == '[':
			end := classEnd(s, i)
			if end < 0 {
				return false
			}
			i = end
		default:
			return false
		}
	}
	_, err := path.Match(s, "")
	return err == nil
}

// classEnd returns the index of the "]" closing the character class that
// starts at s[start] == '[', or -1 when the class is malformed or holds
// anything but name bytes.
func classEnd(s string, start int) int {
	i := start + 1
	if i < len(s) && s[i] == '^' {
		i++
	}
	first := i
	for ; i < len(s); i++ {
		c := s[i]
		if c == ']' && i > first {
			return i
		}
		if !isNameByte(c) {
			return -1
		}
	}
	return -1
}

// isPattern reports whether a namespaces key is a glob rather than an exact
// name.
func isPattern(key string) bool {
	return strings.ContainsAny(key, "*?[")
}

// Namespace resolves a namespace name to its policy. A key equal to name
// wins. Otherwise, among the glob keys that match name (path.Match), the most
// specific one applies: the longest pattern, and among patterns of the same
// length the lexically smallest. It returns false when name is not a valid
// namespace name or no key matches it, i.e. the namespace is not declared.
func (c *Config) Namespace(name string) (Namespace, bool) {
	_, ns, ok := c.NamespaceKey(name)
	return ns, ok
}

// NamespaceKey is Namespace that also returns the key of namespaces that
// the policy comes from: name itself, or the glob pattern that won.
func (c *Config) NamespaceKey(name string) (key string, ns Namespace, ok bool) {
	if !ValidNamespaceName(name) {
		return "", Namespace{}, false
	}
	if ns, ok := c.Namespaces[name]; ok {
		return name, ns, true
	}
	best := ""
	for key := range c.Namespaces {
		if !isPattern(key) {
			continue
		}
		if ok, err := path.Match(key, name); err != nil || !ok {
			continue
		}
		if best == "" || moreSpecific(key, best) {
			best = key
		}
	}
	if best == "" {
		return "", Namespace{}, false
	}
	return best, c.Namespaces[best], true
}

// moreSpecific reports whether glob key a beats glob key b.
func moreSpecific(a, b string) bool {
	return cmp.Or(cmp.Compare(len(b), len(a)), cmp.Compare(a, b)) < 0
}
