package daemon_test

// The backend contract package (contract) against a running node: a Go
// backend that builds subjects and bodies with it and reads routerd's
// replies, notices and headers into its types gets what docs/backends.md says.

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/routertest"
)

// ctlReply sends a control request built with the contract's types and
// decodes the reply into a contract.CtlReply.
func ctlReply(t *testing.T, nc *nats.Conn, subject string, req contract.CtlRequest) contract.CtlReply {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	m, err := nc.Request(subject, body, routertest.Wait)
	if err != nil {
		t.Fatalf("%s %s: %v", subject, body, err)
	}
	var rep contract.CtlReply
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		t.Fatalf("%s %s: reply %s: %v", subject, body, m.Data, err)
	}
	return rep
}

func TestContractPackage(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, nil)
	nc := n.Backend()
	subj := contract.NewSubjects("router")
	pres := routertest.Subscribe(t, nc, subj.Presence("chat", "a.b c"))
	a := n.Joined("chat")
	b := n.Joined("chat", "a.b c")
	pres.WaitN(t, 1)

	if rep := ctlReply(t, nc, subj.Ctl("chat", contract.CtlJoin), contract.CtlRequest{SID: a.SID, Room: "a.b c"}); !rep.OK || rep.Count != 1 {
		t.Errorf("ctl join: %+v", rep)
	}
	m := pres.WaitN(t, 2)[1]
	var notice contract.PresenceNotice
	if err := json.Unmarshal(m.Data, &notice); err != nil || notice != (contract.PresenceNotice{Action: contract.PresenceJoin, SID: a.SID, Node: "t1"}) {
		t.Errorf("presence notice %s: %+v, %v", m.Data, notice, err)
	}
	if m.Header.Get(contract.HeaderNs) != "chat" || m.Header.Get(contract.HeaderSid) != a.SID || m.Header.Get(contract.HeaderRoom) != "a.b c" || m.Header.Get(contract.HeaderNode) != "t1" {
		t.Errorf("presence notice headers: %v", m.Header)
	}

	rep := ctlReply(t, nc, subj.Ctl("chat", contract.CtlPresence), contract.CtlRequest{Room: "a.b c"})
	got := map[contract.Member]bool{}
	for _, mb := range rep.Members {
		got[mb] = true
	}
	if want := map[contract.Member]bool{{SID: a.SID}: true, {SID: b.SID}: true}; !rep.OK || !reflect.DeepEqual(got, want) {
		t.Errorf("ctl presence: %+v", rep)
	}
	rep = ctlReply(t, nc, subj.Ctl("chat", contract.CtlRooms), contract.CtlRequest{})
	if want := []contract.RoomCount{{Room: "a.b c", Members: 2}}; !rep.OK || !reflect.DeepEqual(rep.Rooms, want) {
		t.Errorf("ctl rooms: %+v", rep)
	}
	rep = ctlReply(t, nc, subj.Ctl("nosuch", contract.CtlRooms), contract.CtlRequest{})
	if rep.OK || rep.Error == nil || rep.Error.Code != contract.CodeUnknownNamespace {
		t.Errorf("ctl rooms of an undeclared namespace: %+v", rep)
	}

	// A backend publish reaches the room's members, but the excluded one.
	routertest.Publish(t, nc, subj.Room("chat", "a.b c", "news"), []byte(`{"n": 1}`), nats.Header{contract.HeaderExclude: {b.SID}})
	if f := a.C.Next(routertest.IsEvent("news")); f.Str("room") != "a.b c" {
		t.Errorf("news: %v", f)
	}
	b.C.None(routertest.IsEvent("news"))
}
