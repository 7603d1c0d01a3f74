package router

import (
	"context"
	"encoding/json"
	"time"

	"github.com/routerd/routerd/config"
)

// Identity is what authentication established about a socket.
type Identity struct {
	// User is the authenticated user; empty for anonymous sockets.
	User string
	// Rooms lists the room globs the socket may join; nil allows any room.
	Rooms []string
	// Expires is when the credential ends (the socket is then detached with
	// reason token_expired); zero never.
	Expires time.Time
}

// ConnInfo describes the transport connection a socket attaches through, for
// authenticators that need it.
type ConnInfo struct {
	RemoteAddr string
	Header     map[string][]string
}

// Authenticator decides whether a socket may attach to a namespace whose
// auth policy is not none. It returns an *Error (unauthorized, forbidden) to
// refuse.
type Authenticator interface {
	Authenticate(ctx context.Context, ns string, policy config.Namespace, auth json.RawMessage, info ConnInfo) (Identity, error)
}
