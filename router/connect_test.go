package router

import (
	"context"
	"testing"
)

// TestConnectFlushFails: a connect whose confirmation fails (here its
// context ends first) leaves nothing behind: the namespace it opened is
// closed again, and a later connect opens it anew.
func TestConnectFlushFails(t *testing.T) {
	r, _ := startRouter(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Connect(ctx, newQueueConn(8), "chat", nil, ConnInfo{}); err == nil {
		t.Fatal("connected although the subscriptions were never confirmed")
	}
	if r.lookupSpace("chat") != nil {
		t.Fatal("the namespace stayed open without sockets")
	}
	s, err := r.Connect(context.Background(), newQueueConn(8), "chat", nil, ConnInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if sp := r.lookupSpace("chat"); sp == nil || sp != s.sp || !sp.confirmed.Load() {
		t.Fatal("the namespace of a connected socket is not open and confirmed")
	}
}
