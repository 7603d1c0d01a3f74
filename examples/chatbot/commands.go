package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/routerd/routerd/contract"
)

// helpText answers /help.
const helpText = "commands: /help (this list), /who (who is in this room), /time (the bot's clock)"

// command returns the answer to text when it is a command.
func (b *Bot) command(room, text string) (string, bool) {
	text = strings.TrimSpace(text)
	if !strings.HasPrefix(text, "/") {
		return "", false
	}
	name, _, _ := strings.Cut(text, " ")
	switch strings.ToLower(name) {
	case "/help":
		if b.asst != nil {
			return helpText + ", @" + b.cfg.Name + " <question> (ask the assistant)", true
		}
		return helpText, true
	case "/time":
		return "it is " + b.cfg.Clock().Format(time.RFC1123), true
	case "/who":
		return b.who(room), true
	default:
		return fmt.Sprintf("unknown command %s; try /help", name), true
	}
}

// who answers /who: the members of room by nickname where the bot knows
// one, else by authenticated user, else by a short sid.
func (b *Bot) who(room string) string {
	members, err := b.presence(room)
	if err != nil {
		b.log.Error("list room members", "room", room, "err", err)
		return "sorry, I could not list who is here"
	}
	if len(members) == 0 {
		return "nobody is in " + room
	}
	names := make([]string, 0, len(members))
	for _, m := range members {
		names = append(names, b.display(m))
	}
	slices.Sort(names)
	return fmt.Sprintf("%d in %s: %s", len(names), room, strings.Join(names, ", "))
}

// display is how /who shows a member.
func (b *Bot) display(m contract.Member) string {
	if name, ok := b.nicks.Nick(m.SID); ok {
		return name
	}
	if m.User != "" {
		return "user:" + m.User
	}
	return "sid:" + shortSID(m.SID)
}

// shortSID abbreviates a sid for people.
func shortSID(sid string) string {
	const n = 8
	if len(sid) <= n {
		return sid
	}
	return sid[:n]
}

// presence asks routerd who is in room (across the cluster).
func (b *Bot) presence(room string) ([]contract.Member, error) {
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.RequestTimeout)
	defer cancel()
	body := mustJSON(contract.CtlRequest{Room: room})
	rep, err := b.nc.RequestWithContext(ctx, b.subj.presence, body)
	if err != nil {
		return nil, fmt.Errorf("ctl presence %q: %w", room, err)
	}
	var r contract.CtlReply
	if err := json.Unmarshal(rep.Data, &r); err != nil {
		return nil, fmt.Errorf("ctl presence %q: reply: %w", room, err)
	}
	if !r.OK {
		if r.Error != nil {
			return nil, fmt.Errorf("ctl presence %q: %w", room, r.Error)
		}
		return nil, errors.New("ctl presence: refused without a reason")
	}
	return r.Members, nil
}
