package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

const (
	setupTimeout = 30 * time.Second // one connection's dial, attach and join
	writeTimeout = 30 * time.Second // one message written to the server
	minReadBuf   = 4096             // a reader's first buffer
	maxReadBuf   = 64 << 10         // a reader's buffer grows this far under load, or to the longest frame
)

// writeBuffers is shared by every connection's writes: gorilla/websocket
// then holds a write buffer only while a message is being written, so an
// idle connection costs the generator little.
var writeBuffers = &sync.Pool{}

// conn is one benchmark connection: dialled and attached synchronously,
// then read by its own goroutine (readLoop) until routerbench or the server
// closes it.
type conn struct {
	ws    *websocket.Conn
	proto protocol

	wmu     sync.Mutex  // serialises writes: a publisher and the reader's answers to pings
	closing atomic.Bool // routerbench is closing the connection itself

	// Owned by the reader goroutine; read by others only after done is closed.
	buf        []byte            // unscanned bytes of the current message
	hist       histogram         // publish-to-delivery latency of benchmark events
	events     int64             // benchmark events received
	order      map[uint32]uint32 // the last message number seen, by publisher
	disordered int64             // events not newer than the last one of their publisher
	last       time.Time         // when the last benchmark event arrived
	errors     map[string]int    // error frames (and server-side detaches) by code
	ended      string            // how the server ended the connection; "" if it did not
	done       chan struct{}     // closed when the reader returns
}

// dial opens a connection to url, from the next of o.sources' addresses
// when there are any, and attaches it to o.ns and room.
func dial(ctx context.Context, o *options, url, room string) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	d := websocket.Dialer{
		HandshakeTimeout: setupTimeout,
		Subprotocols:     o.proto.subprotocols(),
		WriteBufferPool:  writeBuffers,
		ReadBufferSize:   o.readBuffer,
		NetDialContext:   o.sources.netDial(), // from the next source address, if any
	}
	ws, resp, err := d.DialContext(ctx, url, nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial %s: %w (HTTP %s)", url, err, resp.Status)
		}
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	c := &conn{ws: ws, proto: o.proto, done: make(chan struct{})}
	deadline, _ := ctx.Deadline()
	_ = ws.SetReadDeadline(deadline)
	if err := o.proto.attach(c, o.ns, room); err != nil {
		_ = ws.Close()
		return nil, fmt.Errorf("attach: %w", err)
	}
	_ = ws.SetReadDeadline(time.Time{})
	return c, nil
}

// readMessage reads one whole message; attach uses it before the reader starts.
func (c *conn) readMessage() ([]byte, error) {
	_, msg, err := c.ws.ReadMessage()
	return msg, err
}

// write sends msg as one text message.
func (c *conn) write(msg []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	return c.ws.WriteMessage(websocket.TextMessage, msg)
}

// readLoop reads messages until the connection ends, handing the protocol
// whole frames as soon as they are in (v1 messages may batch thousands of
// frames; they are never held whole), and counting what they carry in t.
func (c *conn) readLoop(t *tally) {
	defer close(c.done)
	var in inbound
	for {
		_, r, err := c.ws.NextReader()
		if err != nil {
			c.end(err)
			return
		}
		n := 0 // bytes in c.buf not yet scanned
		for {
			// Grow the buffer when a frame does not fit, or when a read
			// filled it: under load, fewer and larger reads cost less.
			if n == len(c.buf) {
				c.buf = append(c.buf, make([]byte, max(len(c.buf), minReadBuf))...)
			}
			m, err := r.Read(c.buf[n:])
			if n+m == len(c.buf) && len(c.buf) < maxReadBuf {
				c.buf = append(c.buf, make([]byte, len(c.buf))...)
			}
			n += m
			eof := errors.Is(err, io.EOF)
			if err != nil && !eof {
				c.end(err)
				return
			}
			cut := n // at the end of the message, everything
			if !eof {
				cut = bytes.LastIndexByte(c.buf[:n], '\n') + 1
			}
			if cut > 0 {
				if err := c.handle(c.buf[:cut], &in, t); err != nil {
					c.end(err)
					return
				}
				n = copy(c.buf, c.buf[cut:n])
			}
			if eof {
				break
			}
		}
	}
}

// handle scans whole frames and records what they carry.
func (c *conn) handle(b []byte, in *inbound, t *tally) error {
	c.proto.scan(b, in)
	for _, code := range in.errors {
		if c.errors == nil {
			c.errors = make(map[string]int)
		}
		c.errors[code]++
	}
	if len(in.reply) > 0 {
		if err := c.write(in.reply); err != nil {
			return err
		}
	}
	if len(in.stamps) == 0 {
		return nil
	}
	now := time.Now()
	ns := now.UnixNano()
	if c.order == nil {
		c.order = make(map[uint32]uint32)
	}
	for _, s := range in.stamps {
		c.hist.record(time.Duration(ns - s.sent))
		if s.seq <= c.order[s.pub] {
			c.disordered++
		} else {
			c.order[s.pub] = s.seq
		}
	}
	c.events += int64(len(in.stamps))
	c.last = now
	t.add(int64(len(in.stamps)))
	return nil
}

// end records why the reader stopped, unless routerbench closed the connection.
func (c *conn) end(err error) {
	if c.closing.Load() {
		return
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		c.ended = fmt.Sprintf("close %d", ce.Code)
	} else {
		c.ended = "dropped"
	}
}

// closeAll closes every connection and waits for their readers.
func closeAll(conns []*conn) {
	for _, c := range conns {
		if c != nil {
			c.closing.Store(true)
			_ = c.ws.Close()
		}
	}
	for _, c := range conns {
		if c != nil {
			<-c.done
		}
	}
}
