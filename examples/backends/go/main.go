// Command go is a routerd backend in Go: plain NATS (nats.go) and the names
// of the contract package, nothing else of routerd. It serves the
// server-bound events ping, upper, who and poll of namespace chat, greets
// each socket that connects, and decides who may connect to namespace
// private (auth: backend). examples/backends/README.md shows each exchange.
//
//	go run ./cmd/routerd -c examples/backends/router.yaml
//	go run ./examples/backends/go   # -nats URL, or $NATS_URL
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/contract"
)

// subj builds routerd's subjects under its nats.prefix, "router".
var subj = contract.NewSubjects("router")

func main() {
	url := flag.String("nats", cmp.Or(os.Getenv("NATS_URL"), nats.DefaultURL), "NATS URL, routerd's nats.listen ($NATS_URL sets the default)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *url); err != nil {
		slog.Error("backend failed", "err", err)
		os.Exit(1)
	}
}

// backend holds the connection its handlers publish and request on.
type backend struct{ nc *nats.Conn }

// run serves until ctx ends, then drains: what has arrived is answered.
func run(ctx context.Context, url string) error {
	closed := make(chan struct{})
	nc, err := nats.Connect(url, nats.Name("routerd-backend-go"), nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		return fmt.Errorf("connect %s: %w", url, err)
	}
	defer nc.Close()
	b := backend{nc}
	handlers := map[string]nats.MsgHandler{
		subj.Server("chat", "ping"):                       b.ping,
		subj.Server("chat", "upper"):                      b.upper,
		subj.Server("chat", "who"):                        b.who,
		subj.Server("chat", "poll"):                       b.poll,
		subj.Lifecycle("chat", contract.LifecycleConnect): b.greet,
		subj.Auth("private"):                              b.authenticate,
	}
	for subject, h := range handlers { // in a queue group: one instance gets each message
		if _, err := nc.QueueSubscribe(subject, "workers", h); err != nil {
			return fmt.Errorf("subscribe %s: %w", subject, err)
		}
	}
	if err := nc.Flush(); err != nil { // the server has every subscription
		return fmt.Errorf("flush: %w", err)
	}
	slog.Info("backend ready", "nats", nc.ConnectedUrl())
	select {
	case <-ctx.Done():
	case <-closed: // reconnecting failed for good (nats.go tries for 2 minutes)
		return fmt.Errorf("lost NATS: %w", cmp.Or(nc.LastError(), nats.ErrConnectionClosed))
	}
	slog.Info("backend stopping")
	if err := nc.Drain(); err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	<-closed
	return nil
}

// respond answers a request with v as JSON: the client's ack data.
func respond(m *nats.Msg, v any) {
	data, _ := json.Marshal(v)
	_ = m.Respond(data)
}

// refuse answers a request with a Router-Error header: the client gets an
// error frame with that code, and the payload as its message.
func refuse(m *nats.Msg, code contract.Code, message string) {
	_ = m.RespondMsg(&nats.Msg{Header: nats.Header{contract.HeaderError: {string(code)}}, Data: []byte(message)})
}

// ping answers any data: {"type":"emit","ns":"chat","event":"ping","id":1}.
func (b backend) ping(m *nats.Msg) { respond(m, map[string]any{"pong": true, "from": "go"}) }

// upper answers a string in upper case, and anything else with an error.
func (b backend) upper(m *nats.Msg) {
	var s string
	if err := json.Unmarshal(m.Data, &s); err != nil {
		refuse(m, contract.CodeBadFrame, "upper wants a string")
		return
	}
	respond(m, strings.ToUpper(s))
}

// who answers {"room"} with the room's members: [{"sid","user"?}].
func (b backend) who(m *nats.Msg) {
	var req struct{ Room string }
	if err := json.Unmarshal(m.Data, &req); err != nil || req.Room == "" {
		refuse(m, contract.CodeBadFrame, `who wants {"room":".."}`)
		return
	}
	members, err := b.presence(req.Room)
	if err != nil {
		refuse(m, contract.CodeInternal, err.Error())
		return
	}
	respond(m, members)
}

// presence asks routerd, for the whole cluster, who is in room.
func (b backend) presence(room string) ([]contract.Member, error) {
	body, _ := json.Marshal(contract.CtlRequest{Room: room})
	r, err := b.nc.Request(subj.Ctl("chat", contract.CtlPresence), body, 3*time.Second)
	if err != nil {
		return nil, fmt.Errorf("ctl.presence %q: %w", room, err)
	}
	var rep contract.CtlReply
	if err := json.Unmarshal(r.Data, &rep); err != nil {
		return nil, fmt.Errorf("ctl.presence %q: %w", room, err)
	}
	if !rep.OK {
		return nil, fmt.Errorf("ctl.presence %q: %w", room, rep.Error)
	}
	return rep.Members, nil
}

// greet logs each socket that connects to chat and welcomes it by the name
// its WebSocket URL gave (ws://host/ws?name=ann), if any.
func (b backend) greet(m *nats.Msg) {
	var n contract.LifecycleNotice
	if json.Unmarshal(m.Data, &n) != nil || m.Header.Get(contract.HeaderReason) != "" {
		return // a Router-Reason (node_returned): old sockets announced again
	}
	name := "stranger"
	if h := n.Handshake; h != nil { // left out only when too large
		slog.Info("connect", "sid", n.SID, "node", n.Node, "address", h.Address, "url", h.URL, "user_agent", h.Headers["user-agent"])
		if q := h.Query["name"]; len(q) > 0 {
			name = q[0]
		}
	}
	data, _ := json.Marshal(map[string]string{"text": "welcome, " + name, "from": "go"})
	_ = b.nc.Publish(subj.Socket("chat", n.SID, "welcome"), data)
}

// poll takes {"room","question"}, answers {"asked":N}, asks the room's
// members, and publishes what they answered to the room as poll_result:
// {"question","answers":{sid:data},"errors":{sid:code}}.
func (b backend) poll(m *nats.Msg) {
	var req struct{ Room, Question string }
	if err := json.Unmarshal(m.Data, &req); err != nil || req.Room == "" {
		refuse(m, contract.CodeBadFrame, `poll wants {"room":"..","question":".."}`)
		return
	}
	members, err := b.presence(req.Room)
	if err != nil {
		refuse(m, contract.CodeInternal, err.Error())
		return
	}
	respond(m, map[string]int{"asked": len(members)})
	go func() {
		if err := b.ask(req.Room, req.Question, members); err != nil {
			slog.Error("poll", "room", req.Room, "err", err)
		}
	}()
}

// ask sends a request, not a publish, to each member's socket subject: its
// client gets the event with an "ack" id and answers with a reply frame. The
// replies come to one inbox, one per socket, each naming it in Router-Sid.
// (One request on the room's subject reaches every member at once, but only
// in a namespace without history: chat keeps history.)
func (b backend) ask(room, question string, members []contract.Member) error {
	inbox := b.nc.NewInbox()
	sub, err := b.nc.SubscribeSync(inbox)
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", inbox, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	q, _ := json.Marshal(map[string]string{"question": question})
	for _, mem := range members {
		if err := b.nc.PublishRequest(subj.Socket("chat", mem.SID, "poll"), inbox, q); err != nil {
			return fmt.Errorf("ask %s: %w", mem.SID, err)
		}
	}
	answers, errs := map[string]json.RawMessage{}, map[string]string{}
	deadline := time.Now().Add(6 * time.Second) // limits.ack_timeout (5s), and a margin
	for len(answers)+len(errs) < len(members) {
		r, err := sub.NextMsg(time.Until(deadline))
		if err != nil {
			break // a socket gone before it was asked never gets a reply
		}
		sid := r.Header.Get(contract.HeaderSid)
		if code := r.Header.Get(contract.HeaderError); code != "" {
			errs[sid] = code // timeout, or not_connected: it left without answering
		} else {
			answers[sid] = r.Data
		}
	}
	for _, mem := range members {
		if _, ok := answers[mem.SID]; !ok && errs[mem.SID] == "" {
			errs[mem.SID] = string(contract.CodeNotConnected)
		}
	}
	result, _ := json.Marshal(map[string]any{"question": question, "answers": answers, "errors": errs})
	return b.nc.Publish(subj.Room("chat", room, "poll_result"), result)
}

// authenticate decides who may connect to namespace private: the body is
// the connect frame's auth object; headers say where the client came from.
func (b backend) authenticate(m *nats.Msg) {
	var creds struct{ Token string }
	_ = json.Unmarshal(m.Data, &creds)
	users := map[string]string{"ann-secret": "ann", "bob-secret": "bob"} // a demo's user store
	user, ok := users[creds.Token]
	slog.Info("auth", "user", user, "allow", ok, "remote", m.Header.Get(contract.HeaderRemoteAddr), "origin", m.Header.Get("Http-Origin"))
	if !ok {
		respond(m, contract.AuthReply{Message: "unknown token"})
		return
	}
	respond(m, contract.AuthReply{Allow: true, User: user, Rooms: []string{"lobby", user + "-*"}})
}
