package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/contract"
)

// Bounds of an action.
const (
	actionTimeout = 5 * time.Second // a ctl request gathers for up to 2 s
	maxEmitData   = 64 << 10        // a test event's payload
	maxReason     = 256             // a disconnect reason
)

// Actions.
const (
	actDisconnect = contract.CtlDisconnect
	actJoin       = contract.CtlJoin
	actLeave      = contract.CtlLeave
	actEmit       = "emit"
)

// actionRequest is the body of POST {admin.path}/api/action.
type actionRequest struct {
	Op     string `json:"op"` // disconnect, join, leave or emit
	NS     string `json:"ns"`
	SID    string `json:"sid,omitempty"`    // the socket acted on (disconnect, join, leave; emit to one socket)
	User   string `json:"user,omitempty"`   // or every socket of a user (disconnect, join, leave)
	Room   string `json:"room,omitempty"`   // join, leave; disconnect every member; emit to the room
	Reason string `json:"reason,omitempty"` // disconnect: what the clients see (default kicked)
	Event  string `json:"event,omitempty"`  // emit: the event name
	Data   string `json:"data,omitempty"`   // emit: the payload, as backends publish it (JSON, or text that arrives as a string)
}

// actionResult is the answer to an action.
type actionResult struct {
	OK      bool            `json:"ok"`
	Count   int             `json:"count"`             // the sockets the ctl request acted on
	Partial bool            `json:"partial,omitempty"` // a node did not answer the ctl request in time
	Error   *contract.Error `json:"error,omitempty"`
}

// errBadAction is an action that cannot be carried out as asked.
type errBadAction struct{ msg string }

func (e errBadAction) Error() string { return e.msg }

func badAction(format string, args ...any) error { return errBadAction{fmt.Sprintf(format, args...)} }

// act carries out an action through the backend contract, as a backend
// would: disconnect, join and leave as ctl requests on P.{ns}.ctl.{op}
// (answered once for the whole cluster), emit as a publish on the room's
// or the socket's subject. who is the admin, for the log.
func (c *Console) act(ctx context.Context, who string, req actionRequest) (actionResult, error) {
	if err := c.checkAction(req); err != nil {
		return actionResult{}, err
	}
	log := c.log.With("admin", who, "op", req.Op, "ns", req.NS)
	for _, kv := range [][2]string{{"sid", req.SID}, {"user", req.User}, {"room", req.Room}, {"event", req.Event}, {"reason", req.Reason}} {
		if kv[1] != "" {
			log = log.With(kv[0], kv[1])
		}
	}
	if req.Op == actEmit {
		subject := c.subj.Room(req.NS, req.Room, req.Event)
		if req.SID != "" {
			subject = c.subj.Socket(req.NS, req.SID, req.Event)
		}
		if len(subject) > contract.MaxSubjectBytes {
			return actionResult{}, badAction("the event's subject would be over %d bytes", contract.MaxSubjectBytes)
		}
		nc := c.bus.For(req.NS).NC() // a tenant's rooms take publishes in its account only
		err := nc.Publish(subject, []byte(req.Data))
		if err == nil {
			err = nc.FlushTimeout(actionTimeout)
		}
		if err != nil {
			log.Warn("admin action failed", "err", err)
			return actionResult{}, fmt.Errorf("admin: emit: %w", err)
		}
		log.Info("admin action", "bytes", len(req.Data))
		return actionResult{OK: true}, nil
	}
	body, err := json.Marshal(contract.CtlRequest{SID: req.SID, User: req.User, Room: req.Room, Reason: req.Reason})
	if err != nil {
		return actionResult{}, fmt.Errorf("admin: encode ctl request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, actionTimeout)
	defer cancel()
	m, err := c.bus.Main().NC().RequestMsgWithContext(ctx, &nats.Msg{Subject: c.subj.Ctl(req.NS, req.Op), Data: body})
	if err != nil {
		log.Warn("admin action failed", "err", err)
		return actionResult{}, fmt.Errorf("admin: ctl %s: %w", req.Op, err)
	}
	var rep contract.CtlReply
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		log.Warn("admin action failed", "err", err)
		return actionResult{}, fmt.Errorf("admin: ctl %s reply: %w", req.Op, err)
	}
	res := actionResult{OK: rep.OK, Count: rep.Count, Partial: m.Header.Get(contract.HeaderPartial) == "true", Error: rep.Error}
	if !rep.OK {
		log.Warn("admin action refused", "error", rep.Error)
		return res, nil
	}
	log.Info("admin action", "count", rep.Count, "partial", res.Partial)
	return res, nil
}

// checkAction checks an action's fields before anything is sent.
func (c *Console) checkAction(req actionRequest) error {
	if !config.ValidNamespaceName(req.NS) {
		return badAction("ns must be a namespace name")
	}
	if _, ok := c.cfg.Namespace(req.NS); !ok {
		return badAction("namespace %q is not declared", req.NS)
	}
	if req.SID != "" && !contract.ValidSID(req.SID) {
		return badAction("sid must be 1 to %d of [A-Za-z0-9_-]", contract.MaxSIDBytes)
	}
	if req.User != "" && !contract.ValidUser(req.User) {
		return badAction("user must be 1 to %d bytes of text", contract.MaxUserBytes)
	}
	if req.Room != "" && !contract.ValidRoomName(req.Room, c.cfg.Limits.MaxNameBytes) {
		return badAction("room must be 1 to %d bytes of text", c.cfg.Limits.MaxNameBytes)
	}
	targets := 0
	for _, v := range []string{req.SID, req.User} {
		if v != "" {
			targets++
		}
	}
	switch req.Op {
	case actDisconnect:
		if req.Room != "" {
			targets++
		}
		if targets != 1 {
			return badAction("disconnect names exactly one of sid, user and room")
		}
		if len(req.Reason) > maxReason || strings.ContainsFunc(req.Reason, func(r rune) bool { return r < ' ' }) {
			return badAction("reason must be at most %d bytes of text", maxReason)
		}
	case actJoin, actLeave:
		if targets != 1 || req.Room == "" {
			return badAction("%s names a room and exactly one of sid and user", req.Op)
		}
	case actEmit:
		if req.User != "" || (req.SID == "") == (req.Room == "") {
			return badAction("emit names exactly one of sid and room")
		}
		if !contract.ValidEventName(req.Event) || strings.HasPrefix(req.Event, "$") {
			return badAction("event must be 1 to %d bytes of text, not starting with $", contract.MaxEventBytes)
		}
		if len(req.Data) > maxEmitData {
			return badAction("data must be at most %d bytes", maxEmitData)
		}
	default:
		return badAction("op must be disconnect, join, leave or emit")
	}
	return nil
}

// isBadAction reports whether err is an action refused before anything
// was sent.
func isBadAction(err error) bool {
	var b errBadAction
	return errors.As(err, &b)
}
