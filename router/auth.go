package router

import (
	"context"
	"encoding/json"
	"time"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/connheader"
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

// ConnInfo describes the transport connection a socket attaches through:
// the HTTP request it opened with, for authenticators and for the
// handshake of the lifecycle connect notice.
type ConnInfo struct {
	// RemoteAddr is the client's address as the listener saw it (host:port).
	RemoteAddr string
	// Header holds the request's headers and its Host (connheader.Keep),
	// the credentials only where an auth backend may need them.
	Header connheader.Header
	// URL is the request's target as the client sent it: path and query.
	URL string
	// Query is the query the client gave, URL-encoded as sent: the URL's
	// (for Socket.IO, less Engine.IO's own parameters).
	Query string
}

// Authenticator decides whether a socket may attach to a namespace whose
// auth policy is not none. It returns an *Error (unauthorized, forbidden) to
// refuse.
type Authenticator interface {
	Authenticate(ctx context.Context, ns string, policy config.Namespace, auth json.RawMessage, info ConnInfo) (Identity, error)
}
