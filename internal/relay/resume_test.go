package relay

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/routerd/routerd/internal/natstest"
)

// resume asks for pid through rl, within waitFor.
func resume(t *testing.T, rl *Relay, pid string) (ResumeReply, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	return rl.Resume(ctx, ResumeRequest{PID: pid, Offset: "o1", NS: "chat", NSP: "/", Node: "asker", NodeName: "n2"})
}

// notHeld checks that pid-1 is held nowhere once the server has the
// holder's unsubscription: no responders.
func notHeld(t *testing.T, holder, asker *Relay, what string) {
	t.Helper()
	if err := holder.o.Conn.NC().Flush(); err != nil {
		t.Fatal(err)
	}
	if rep, err := resume(t, asker, "pid-1"); !errors.Is(err, ErrNoNode) {
		t.Fatalf("%s: %+v, %v", what, rep, err)
	}
}

// TestResume: a node holding a parked socket answers the resume requests
// for its pid with what its server says, packets intact (text, binary and
// empty units); no responders once it stops holding, and for a pid never
// held; a request that names another pid under the same subject gets OK
// false without reaching the server; Close ends every hold.
func TestResume(t *testing.T) {
	srv := natstest.Server(t, &server.Options{})
	holder := start(t, srv, ownerTag, nil, nil)
	asker := start(t, srv, edgeTag, nil, nil)

	packets := []Packet{
		{Offset: "41", Unit: []byte(`42["a",1,"41"]`)},
		{Offset: "x-2", Unit: []byte{0, 't', 1, '4', 'b', 2, 0xff, 0}},
		{Offset: "", Unit: nil},
	}
	asked := make(chan ResumeRequest, 1)
	stop, err := holder.Hold("pid-1", func(req ResumeRequest, respond func(ResumeReply) error) {
		asked <- req
		if err := respond(ResumeReply{OK: true, SID: "sid-1", User: "ann", TokenRooms: []string{}, Expires: 42, Rooms: []string{"r1", "r2"}, Node: "holder", Packets: packets}); err != nil {
			t.Errorf("respond: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := resume(t, asker, "pid-1")
	if err != nil {
		t.Fatal(err)
	}
	if req := <-asked; req.PID != "pid-1" || req.Offset != "o1" || req.NS != "chat" || req.NSP != "/" || req.Node != "asker" || req.NodeName != "n2" {
		t.Fatalf("the holder got %+v", req)
	}
	got := fmt.Sprintf("%v %s %s %q %d %q %s", rep.OK, rep.SID, rep.User, rep.Rooms, rep.Expires, rep.Packets, rep.Node)
	want := fmt.Sprintf("%v %s %s %q %d %q %s", true, "sid-1", "ann", []string{"r1", "r2"}, 42, packets, "holder")
	if got != want || rep.TokenRooms == nil || len(rep.TokenRooms) != 0 {
		t.Fatalf("reply %s (token rooms %#v), want %s", got, rep.TokenRooms, want)
	}

	if _, err := resume(t, asker, "pid-2"); !errors.Is(err, ErrNoNode) {
		t.Fatalf("a pid nobody holds: %v", err)
	}
	stop()
	notHeld(t, holder, asker, "after stop")

	// Hold again: the subject is the pid's; a request naming another pid
	// there is refused by the relay.
	if _, err := holder.Hold("pid-1", func(ResumeRequest, func(ResumeReply) error) { t.Error("served a request for another pid") }); err != nil {
		t.Fatal(err)
	}
	nc := natstest.Connect(t, srv)
	m, err := nc.Request(NewNames("router").Resume("pid-1"), []byte(`{"pid":"pid-9"}`), waitFor)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := decodeResumeReply(m.Data); err != nil || rep.OK {
		t.Fatalf("another pid: %+v, %v", rep, err)
	}

	// Closing the relay ends its holds; Hold after it fails.
	holder.Close()
	holder.Wait()
	notHeld(t, holder, asker, "after close")
	if _, err := holder.Hold("pid-3", nil); err == nil {
		t.Fatal("Hold after Close succeeded")
	}
}

// TestResumeTooLarge: a reply over the NATS maximum payload is not sent:
// respond fails, and the server may answer OK false instead.
func TestResumeTooLarge(t *testing.T) {
	srv := natstest.Server(t, &server.Options{MaxPayload: 4096})
	holder := start(t, srv, ownerTag, nil, nil)
	asker := start(t, srv, edgeTag, nil, nil)
	failed := make(chan error, 1)
	if _, err := holder.Hold("pid-1", func(_ ResumeRequest, respond func(ResumeReply) error) {
		failed <- respond(ResumeReply{OK: true, Packets: []Packet{{Offset: "1", Unit: []byte(strings.Repeat("x", 5000))}}})
		if err := respond(ResumeReply{}); err != nil {
			t.Errorf("respond OK false: %v", err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if rep, err := resume(t, asker, "pid-1"); err != nil || rep.OK {
		t.Fatalf("asker: %+v, %v", rep, err)
	}
	if err := <-failed; err == nil {
		t.Fatal("respond sent a reply over the maximum payload")
	}
}

// TestDecodeResumeReply: replies cut short or malformed are refused.
func TestDecodeResumeReply(t *testing.T) {
	good := ResumeReply{OK: true, Packets: []Packet{{Offset: "1", Unit: []byte("42[]")}}}.encode()
	for name, b := range map[string][]byte{
		"empty":          nil,
		"head cut short": good[:3],
		"bad json":       append([]byte{2}, "{x"...),
		"odd messages":   append(append([]byte{2}, "{}"...), AppendBatch(nil, Message{Data: []byte("1")})...),
		"not a batch":    append(append([]byte{2}, "{}"...), "junk"...),
	} {
		if _, err := decodeResumeReply(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	if rep, err := decodeResumeReply(good); err != nil || len(rep.Packets) != 1 || string(rep.Packets[0].Unit) != "42[]" {
		t.Fatalf("good: %+v, %v", rep, err)
	}
}
