package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/internal/bus"
	"github.com/routerd/routerd/internal/relay"
	"github.com/routerd/routerd/router"
)

// resume is what a reconnecting client sends in its CONNECT auth to
// recover its connection state.
type resume struct{ pid, offset string }

// valid reports whether r names a socket to resume: a pid and an offset,
// or no offset (socket.io-client sends none when its socket got no event:
// as with Socket.IO, that socket cannot be resumed, and it ends).
func (r resume) valid() bool {
	return validToken(r.pid) && (r.offset == "" || validToken(r.offset))
}

// splitAuth takes pid and offset (connection state recovery, added by
// socket.io-client) out of a CONNECT's auth object; the rest is the auth
// object the namespace's auth policy sees (docs/protocol.md).
func splitAuth(data json.RawMessage) (json.RawMessage, resume) {
	var m map[string]json.RawMessage
	if data == nil || json.Unmarshal(data, &m) != nil {
		return data, resume{}
	}
	var r resume
	pid, hasPID := m["pid"]
	offset, hasOffset := m["offset"]
	if !hasPID && !hasOffset {
		return data, r
	}
	_ = json.Unmarshal(pid, &r.pid)
	_ = json.Unmarshal(offset, &r.offset)
	delete(m, "pid")
	delete(m, "offset")
	if len(m) == 0 {
		return nil, r
	}
	b, _ := json.Marshal(m)
	return b, r
}

// savedState is what recovery keeps of a lost socket.
type savedState struct {
	NS    string   `json:"ns"`
	Rooms []string `json:"rooms"`
}

// recoveryStore keeps the state of parked sockets of namespaces with
// history, by pid, in a JetStream key-value bucket whose entries expire
// after socketio.recovery.max_disconnection, so that, should their node
// die, the node a client reconnects to finds their rooms.
type recoveryStore struct {
	nc      *bus.Conn
	bucket  string
	timeout time.Duration
	ttl     time.Duration

	mu sync.Mutex
	js jetstream.JetStream // the context kv was made with; guarded by mu
	kv jetstream.KeyValue  // made at first use, and again on a new connection; guarded by mu
}

func newRecoveryStore(nc *bus.Conn, cfg *config.Config) *recoveryStore {
	bucket := relay.NewNames(cfg.NATS.Prefix).RecoveryBucket()
	return &recoveryStore{nc: nc, bucket: bucket, timeout: cfg.Limits.AckTimeout, ttl: cfg.SocketIO.Recovery.MaxDisconnection}
}

// bucketKV returns the bucket, creating it when needed.
func (rs *recoveryStore) bucketKV(ctx context.Context) (jetstream.KeyValue, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	js := rs.nc.JetStream()
	if rs.kv != nil && rs.js == js {
		return rs.kv, nil
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      rs.bucket,
		Description: "routerd: state of lost Socket.IO connections, by pid",
		TTL:         rs.ttl,
		Storage:     jetstream.MemoryStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("socketio recovery: bucket %s: %w", rs.bucket, err)
	}
	rs.js, rs.kv = js, kv
	return kv, nil
}

// save keeps st under pid.
func (rs *recoveryStore) save(pid string, st savedState) error {
	ctx, cancel := context.WithTimeout(context.Background(), rs.timeout)
	defer cancel()
	kv, err := rs.bucketKV(ctx)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(st)
	if _, err := kv.Put(ctx, pid, b); err != nil {
		return fmt.Errorf("socketio recovery: save: %w", err)
	}
	return nil
}

// forget deletes the state kept under pid, if any.
func (rs *recoveryStore) forget(pid string) error {
	ctx, cancel := context.WithTimeout(context.Background(), rs.timeout)
	defer cancel()
	kv, err := rs.bucketKV(ctx)
	if err != nil {
		return err
	}
	if err := kv.Delete(ctx, pid); err != nil {
		return fmt.Errorf("socketio recovery: forget: %w", err)
	}
	return nil
}

// take returns and forgets the state kept under pid; ok is false when there
// is none (never saved, expired, or taken already).
func (rs *recoveryStore) take(ctx context.Context, pid string) (st savedState, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, rs.timeout)
	defer cancel()
	kv, err := rs.bucketKV(ctx)
	if err != nil {
		return st, false, err
	}
	e, err := kv.Get(ctx, pid)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return st, false, nil
	case err != nil:
		return st, false, fmt.Errorf("socketio recovery: get: %w", err)
	}
	if err := kv.Delete(ctx, pid, jetstream.LastRevision(e.Revision())); err != nil {
		// Another node took it first.
		return st, false, nil
	}
	if json.Unmarshal(e.Value(), &st) != nil {
		return st, false, nil
	}
	return st, true, nil
}

// recoverRooms puts a new socket back in the rooms of the lost socket
// that res names, where its node is gone and the recovery store kept
// them (namespaces with history): each with its events after the offset
// (a seq) replayed. It reports whether every room recovered whole
// (socket.recovered is then true, with a new sid: the lost one's notices
// were published for its node).
func (s *Server) recoverRooms(ctx context.Context, sock *router.Socket, res resume) bool {
	if s.store == nil || !sock.HasHistory() {
		return false
	}
	since, err := strconv.ParseUint(res.offset, 10, 64)
	if err != nil {
		return false // the last packet the client got was not a room event's
	}
	st, ok, err := s.store.take(ctx, res.pid)
	if err != nil {
		s.log.Warn("connection state recovery", "err", err)
	}
	if !ok || st.NS != sock.Namespace() {
		return false
	}
	all := true
	for _, room := range st.Rooms {
		recovered, err := sock.JoinSince(ctx, room, since)
		if err != nil {
			// Without the replay the socket is at least back in its room.
			s.log.Debug("recovery replay failed", "room", room, "err", err)
			err = sock.Join(ctx, room)
		}
		if err != nil || !recovered {
			all = false
		}
	}
	return all
}

// save keeps the socket's rooms in the recovery store, where its
// namespace has history: should this node die while the socket is parked
// (or shut down), another node falls back on them.
func (n *nsSocket) save() {
	store := n.srv.store
	if store == nil || n.pid == "" || !n.sock.HasHistory() {
		return
	}
	if err := store.save(n.pid, savedState{NS: n.sock.Namespace(), Rooms: n.sock.Rooms()}); err != nil {
		n.srv.log.Warn("connection state recovery", "err", err)
		return
	}
	n.mu.Lock()
	n.saved = true
	n.mu.Unlock()
}

// forgetSaved deletes what save kept.
func (n *nsSocket) forgetSaved() {
	n.mu.Lock()
	saved := n.saved
	n.saved = false
	n.mu.Unlock()
	if !saved {
		return
	}
	if err := n.srv.store.forget(n.pid); err != nil {
		n.srv.log.Warn("connection state recovery", "err", err)
	}
}
