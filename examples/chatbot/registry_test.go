package main

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// input is one thing an instance's registry receives.
type input struct {
	claim   Claim
	release string // sid, when this is a disconnect
}

func (in input) applyTo(r *Registry, now time.Time) {
	if in.release != "" {
		r.Release(in.release, now)
		return
	}
	r.Apply(in.claim)
}

// permutations calls f with every order of ins.
func permutations(ins []input, f func([]input)) {
	var rec func(int)
	rec = func(k int) {
		if k == len(ins) {
			f(ins)
			return
		}
		for i := k; i < len(ins); i++ {
			ins[k], ins[i] = ins[i], ins[k]
			rec(k + 1)
			ins[k], ins[i] = ins[i], ins[k]
		}
	}
	rec(0)
}

// Instances that receive the same claims and disconnects in different
// orders end with the same holders: the earliest live claim on a name wins,
// a socket's newest claim is the one it holds, a late claim of a
// disconnected socket is ignored.
func TestRegistryConverges(t *testing.T) {
	now := time.Unix(1000, 0)
	ins := []input{
		{claim: Claim{SID: "s1", Name: "alice", At: 10}},
		{claim: Claim{SID: "s2", Name: "Alice", At: 11}}, // lost race with s1
		{claim: Claim{SID: "s3", Name: "carol", At: 12}},
		{claim: Claim{SID: "s3", Name: "dave", At: 13}}, // s3 renamed: carol is free
		{claim: Claim{SID: "s4", Name: "erin", At: 14}},
		{release: "s4"}, // erin's socket left; its claim may arrive after this
	}
	want := map[string]string{"alice": "s1", "carol": "", "dave": "s3", "erin": ""}
	orders := 0
	permutations(ins, func(order []input) {
		orders++
		r := NewRegistry(time.Minute)
		for _, in := range order {
			in.applyTo(r, now)
		}
		for name, sid := range want {
			c, ok := r.Owner(name)
			if ok != (sid != "") || c.SID != sid {
				t.Fatalf("order %v: %s held by %q (%v), want %q", order, name, c.SID, ok, sid)
			}
		}
		if _, ok := r.Nick("s2"); ok {
			t.Fatalf("order %v: s2, which lost the race, holds a name", order)
		}
	})
	if orders != 720 {
		t.Fatalf("tried %d orders", orders)
	}
}

// Grant refuses names others hold, keeps a holder's claim, supersedes a
// rename even on a clock that did not move, and refuses disconnected sockets.
func TestRegistryGrant(t *testing.T) {
	now := time.Unix(1000, 0)
	r := NewRegistry(time.Minute)
	c, fresh, err := r.Grant("s1", "alice", now)
	if err != nil || !fresh || c.At != now.UnixNano() {
		t.Fatalf("grant: %+v %v %v", c, fresh, err)
	}
	if _, fresh, err := r.Grant("s1", "alice", now); err != nil || fresh {
		t.Fatalf("grant again: fresh %v, %v; want the same claim", fresh, err)
	}
	if holder, _, err := r.Grant("s2", "ALICE", now); !errors.Is(err, ErrTaken) || holder.SID != "s1" {
		t.Fatalf("grant taken: holder %+v, %v", holder, err)
	}
	renamed, fresh, err := r.Grant("s1", "Alicia", now)
	if err != nil || !fresh || renamed.At <= c.At {
		t.Fatalf("rename on a still clock: %+v %v %v", renamed, fresh, err)
	}
	r.Apply(c) // the old claim, arriving late, does not undo the rename
	if name, _ := r.Nick("s1"); name != "Alicia" {
		t.Fatalf("s1 holds %q after a late old claim", name)
	}
	r.Release("s1", now)
	if _, _, err := r.Grant("s1", "bob", now); !errors.Is(err, ErrGone) {
		t.Fatalf("grant to a disconnected socket: %v", err)
	}
	if _, fresh, err := r.Grant("s2", "alice", now); err != nil || !fresh {
		t.Fatalf("grant freed name: %v", err)
	}
}

// Tombstones expire after the TTL; a snapshot carries claims and tombstones.
func TestRegistrySnapshotAndTombstones(t *testing.T) {
	t0 := time.Unix(1000, 0)
	r := NewRegistry(time.Minute)
	r.Apply(Claim{SID: "s1", Name: "alice", At: 1})
	r.Apply(Claim{SID: "s2", Name: "bob", At: 2})
	r.Release("s2", t0)

	peer := NewRegistry(time.Minute)
	peer.Apply(Claim{SID: "s2", Name: "bob", At: 2}) // missed the disconnect
	peer.Merge(r.Snapshot(), t0)
	if c, ok := peer.Owner("alice"); !ok || c.SID != "s1" {
		t.Fatalf("merged: alice held by %+v", c)
	}
	if _, ok := peer.Owner("bob"); ok {
		t.Fatalf("merged: bob still held after the snapshot's tombstone")
	}

	for i := 0; i < 3; i++ { // later releases prune what is older than the TTL
		r.Release(fmt.Sprintf("x%d", i), t0.Add(2*time.Minute))
	}
	r.Apply(Claim{SID: "s2", Name: "bob", At: 3})
	if _, ok := r.Owner("bob"); !ok {
		t.Fatalf("claim of a sid whose tombstone expired was ignored")
	}
}
