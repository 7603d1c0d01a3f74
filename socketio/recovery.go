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

// RecoveryWindow is how long the state of a lost Socket.IO connection is
// kept for connection state recovery (Socket.IO's default
// maxDisconnectionDuration).
const RecoveryWindow = 2 * time.Minute

// resume is what a reconnecting client sends in its CONNECT auth to
// recover its connection state.
type resume struct{ pid, offset string }

// splitAuth takes pid and offset (connection state recovery, added by
// socket.io-client) out of a CONNECT's auth object; the rest is the auth
// object the namespace's auth policy sees (SPEC §2).
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

// recoveryStore keeps the state of lost sockets, by pid, in a JetStream
// key-value bucket whose entries expire after RecoveryWindow, so that the
// node a client reconnects to finds it.
type recoveryStore struct {
	nc      *bus.Conn
	bucket  string
	timeout time.Duration

	mu sync.Mutex
	js jetstream.JetStream // the context kv was made with; guarded by mu
	kv jetstream.KeyValue  // made at first use, and again on a new connection; guarded by mu
}

func newRecoveryStore(nc *bus.Conn, cfg *config.Config) *recoveryStore {
	bucket := relay.NewNames(cfg.NATS.Prefix).RecoveryBucket()
	return &recoveryStore{nc: nc, bucket: bucket, timeout: cfg.Limits.AckTimeout}
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
		TTL:         RecoveryWindow,
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

// validPID reports whether p can be a pid (router.RandomID's alphabet), so
// that it is a valid key.
func validPID(p string) bool {
	if len(p) == 0 || len(p) > 64 {
		return false
	}
	for _, c := range []byte(p) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// recover gives a socket of a namespace with history its pid. A client
// that sends the pid and offset of a lost socket whose state is kept gets
// its rooms back, each with the events after offset replayed; it keeps its
// pid when every room recovered (socket.recovered is then true), and gets
// a new one otherwise. It returns "" where there is no recovery.
func (s *Server) recover(ctx context.Context, sock *router.Socket, res resume) string {
	if s.store == nil || !sock.HasHistory() {
		return ""
	}
	since, err := strconv.ParseUint(res.offset, 10, 64)
	if !validPID(res.pid) || err != nil {
		return router.RandomID()
	}
	st, ok, err := s.store.take(ctx, res.pid)
	if err != nil {
		s.log.Warn("connection state recovery", "err", err)
	}
	if !ok || st.NS != sock.Namespace() {
		return router.RandomID()
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
	if !all {
		return router.RandomID()
	}
	return res.pid
}

// save keeps the socket's state for recovery, where its namespace has it.
func (n *nsSocket) save() {
	store := n.sess.srv.store
	if store == nil || n.pid == "" {
		return
	}
	if err := store.save(n.pid, savedState{NS: n.sock.Namespace(), Rooms: n.sock.Rooms()}); err != nil {
		n.sess.srv.log.Warn("connection state recovery", "err", err)
	}
}
