// Package wsclose holds what the WebSocket transports share about ending a
// connection the server closed.
package wsclose

import (
	"errors"
	"io"
	"time"

	"github.com/gorilla/websocket"
)

// Reader is what Linger reads from: a *websocket.Conn, or anything that
// reads messages like one.
type Reader interface {
	ReadMessage() (messageType int, p []byte, err error)
}

// Linger reads on, discarding, after the server sent its close frame while
// the client may still be sending, until the client answers the close, or
// closes, or grace ends. Closing the socket with what the client sent still
// unread would reset the connection, and the client would lose the close
// frame (and report 1006). readErr is why reading ended: nil when the
// server began the close (its writer set the read deadline to the grace, or
// dropped the connection), websocket.ErrReadLimit when gorilla sent 1009
// and reads no more (the raw bytes are discarded); for any other error the
// connection is gone and there is nothing to read.
func Linger(conn Reader, readErr error, grace time.Duration) {
	switch {
	case errors.Is(readErr, websocket.ErrReadLimit):
		if ws, ok := conn.(*websocket.Conn); ok {
			nc := ws.NetConn()
			_ = nc.SetReadDeadline(time.Now().Add(grace))
			_, _ = io.Copy(io.Discard, nc)
		}
	case readErr == nil:
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}
}
