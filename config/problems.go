package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Key is the key path the problem is about ("limits.max_frame_bytes",
	// "namespaces.chat.auth", "nats.users[1].user"), or the name of the
	// environment variable ("ROUTER_NOPE") when no key could be derived.
	Key string
	// Message says what is wrong, for a human.
	Message string
}

// String returns "key: message".
func (p Problem) String() string {
	return p.Key + ": " + p.Message
}

// Problems is the error Load and Validate return for an invalid
// configuration. It lists every problem found, not only the first, sorted by
// key path.
type Problems struct {
	// List holds the problems sorted by Key, then Message; never empty in a
	// returned error.
	List []Problem
}

// Error returns one "key: message" line per problem.
func (p *Problems) Error() string {
	return strings.Join(p.Strings(), "\n")
}

// Strings returns the problems as "key: message" lines.
func (p *Problems) Strings() []string {
	out := make([]string, len(p.List))
	for i, pr := range p.List {
		out[i] = pr.String()
	}
	return out
}

// add records a problem about key.
func (p *Problems) add(key, format string, args ...any) {
	p.List = append(p.List, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
}

// err sorts and de-duplicates the problems and returns p, or nil when there
// are none.
func (p *Problems) err() error {
	if len(p.List) == 0 {
		return nil
	}
	slices.SortFunc(p.List, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.Message, b.Message))
	})
	p.List = slices.Compact(p.List)
	return p
}
