package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/contract"
)

// maxNickRunes bounds nicknames.
const maxNickRunes = 32

// errNickInvalid is returned by validNick for names a chat cannot show.
var errNickInvalid = fmt.Errorf("a nickname is 1 to %d characters, no control characters, no spaces at either end", maxNickRunes)

// validNick checks a nickname as the client sent it.
func validNick(name string) error {
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxNickRunes ||
		strings.TrimSpace(name) != name {
		return errNickInvalid
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return errNickInvalid
		}
	}
	return nil
}

// nickRequest is the data of a client's nick emit.
type nickRequest struct {
	Name *string `json:"name"`
}

// nickReply is the answer to a granted nick request (the client's ack data).
type nickReply struct {
	OK   bool   `json:"ok"`
	Name string `json:"name"`
}

// stateLoop handles, one at a time and in arrival order, everything that
// reads or changes nicknames. Because a claim this instance received before
// a nick request is applied before that request is decided, an instance
// never grants a name whose claim it has already received. When ctx ends it
// handles what is buffered and returns.
func (b *Bot) stateLoop(ctx context.Context) {
	for {
		select {
		case m := <-b.inbox:
			b.handleState(m)
		case <-b.resync:
			b.syncNicks()
		case <-ctx.Done():
			for {
				select {
				case m := <-b.inbox:
					b.handleState(m)
				default:
					return
				}
			}
		}
	}
}

// askResync asks the state loop for a snapshot from a peer (requests
// coalesce).
func (b *Bot) askResync() {
	select {
	case b.resync <- struct{}{}:
	default:
	}
}

func (b *Bot) handleState(m *nats.Msg) {
	switch m.Subject {
	case b.subj.nick:
		b.onNick(m)
	case b.subj.claims:
		var c Claim
		if err := json.Unmarshal(m.Data, &c); err != nil || c.SID == "" || validNick(c.Name) != nil {
			b.log.Warn("ignoring malformed nickname claim", "data", string(m.Data), "err", err)
			return
		}
		b.nicks.Apply(c)
	case b.subj.disconnect:
		var n contract.LifecycleNotice
		if err := json.Unmarshal(m.Data, &n); err != nil || n.SID == "" {
			b.log.Warn("ignoring malformed disconnect notice", "data", string(m.Data), "err", err)
			return
		}
		name, held := b.nicks.Nick(n.SID)
		b.nicks.Release(n.SID, b.cfg.Clock())
		if held {
			b.log.Info("nickname freed", "name", name, "sid", n.SID)
		}
	case b.subj.sync:
		b.onSyncRequest(m)
	}
}

// onNick answers a client's nick request: {"name": ..} → {"ok":true,"name":..}
// when the name is free or the socket holds it already; otherwise a
// Router-Error reply, which routerd turns into an error frame. A request
// without a reply subject (an emit without id) is granted all the same.
func (b *Bot) onNick(m *nats.Msg) {
	b.stats.nicks.Add(1)
	sid := m.Header.Get(contract.HeaderSid)
	if sid == "" {
		b.refuse(m, contract.CodeBadFrame, "nick needs a Router-Sid header (it is a client request)")
		return
	}
	var req nickRequest
	if err := json.Unmarshal(m.Data, &req); err != nil || req.Name == nil {
		b.refuse(m, contract.CodeBadFrame, `nick data must be {"name": "..."}`)
		return
	}
	name := *req.Name
	if err := validNick(name); err != nil {
		b.refuse(m, contract.CodeInvalidName, err.Error())
		return
	}
	if fold(name) == fold(b.cfg.Name) {
		b.refuse(m, contract.CodeForbidden, "nickname reserved")
		return
	}
	c, fresh, err := b.nicks.Grant(sid, name, b.cfg.Clock())
	switch {
	case errors.Is(err, ErrTaken):
		b.log.Info("nickname refused", "name", name, "sid", sid, "holder", c.SID)
		b.refuse(m, contract.CodeForbidden, "nickname taken")
		return
	case errors.Is(err, ErrGone):
		b.refuse(m, contract.CodeNotConnected, "socket disconnected")
		return
	}
	if fresh {
		// Announce before answering: an instance receives the claim before
		// any request the client makes after its ack.
		if err := b.nc.Publish(b.subj.claims, mustJSON(c)); err != nil {
			b.log.Error("announce nickname claim", "name", name, "sid", sid, "err", err)
		}
		b.log.Info("nickname granted", "name", name, "sid", sid)
	}
	b.reply(m, nil, mustJSON(nickReply{OK: true, Name: c.Name}))
}

// refuse answers m with a Router-Error header: the client gets an error
// frame with code and message.
func (b *Bot) refuse(m *nats.Msg, code contract.Code, message string) {
	b.reply(m, nats.Header{contract.HeaderError: {string(code)}}, []byte(message))
}

// reply answers a request; a message without a reply subject gets nothing.
func (b *Bot) reply(m *nats.Msg, h nats.Header, data []byte) {
	if m.Reply == "" {
		return
	}
	if err := b.nc.PublishMsg(&nats.Msg{Subject: m.Reply, Header: h, Data: data}); err != nil {
		b.log.Error("reply", "subject", m.Subject, "err", err)
	}
}

// syncHeader names the instance that asks for a snapshot, so that it does
// not answer itself.
const syncHeader = "Chatbot-Instance"

// onSyncRequest answers a peer's snapshot request, once this instance has a
// state worth sending.
func (b *Bot) onSyncRequest(m *nats.Msg) {
	if m.Header.Get(syncHeader) == b.id || !b.synced.Load() {
		return
	}
	b.reply(m, nil, mustJSON(b.nicks.Snapshot()))
}

// answerSync subscribes to the peers' snapshot requests.
func (b *Bot) answerSync() error {
	sub, err := b.nc.ChanSubscribe(b.subj.sync, b.inbox)
	if err != nil {
		return fmt.Errorf("chatbot: subscribe %s: %w", b.subj.sync, err)
	}
	b.syncSub = sub
	return nil
}

// syncNicks asks the other instances for their nicknames and merges the
// first answer. No peer (the first instance) or no answer within
// cfg.SyncTimeout leaves the registry as it is. This instance stops
// answering snapshot requests meanwhile, so that when it is alone NATS says
// so at once instead of letting it wait for itself.
func (b *Bot) syncNicks() {
	defer b.synced.Store(true)
	if b.syncSub != nil {
		if err := b.syncSub.Unsubscribe(); err != nil {
			b.log.Warn("pause snapshot answers", "err", err)
		}
		b.syncSub = nil
		defer func() {
			if err := b.answerSync(); err != nil {
				b.log.Error("resume snapshot answers", "err", err)
			}
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.SyncTimeout)
	defer cancel()
	req := &nats.Msg{Subject: b.subj.sync, Header: nats.Header{syncHeader: {b.id}}}
	rep, err := b.nc.RequestMsgWithContext(ctx, req)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		b.log.Info("no other instance; nickname state starts here")
		return
	case err != nil:
		b.log.Warn("no nickname snapshot from the other instances", "err", err)
		return
	}
	var s Snapshot
	if err := json.Unmarshal(rep.Data, &s); err != nil {
		b.log.Warn("malformed nickname snapshot", "err", err)
		return
	}
	b.nicks.Merge(s, b.cfg.Clock())
	b.log.Info("nicknames synchronized", "claims", len(s.Claims), "gone", len(s.Gone))
}

// mustJSON encodes v, which is always encodable here.
func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("chatbot: encode %T: %v", v, err))
	}
	return data
}
