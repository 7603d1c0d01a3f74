package main

import (
	"strings"
	"testing"
)

// Zero fields take their defaults; invalid names are refused before anything
// connects; so are bad flags.
func TestConfig(t *testing.T) {
	c, err := Config{}.withDefaults()
	if err != nil || c.NATSURL != "nats://127.0.0.1:4222" || c.Prefix != "router" || c.NS != "chat" || c.Group != "chatbot" || c.Name != "bot" {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	s := newSubjects(c)
	if s.nick != "router.chat.server.nick" || s.claims != "chatbot.router.chat.nicks.claim" || s.presence != "router.chat.ctl.presence" {
		t.Fatalf("subjects: %+v", s)
	}
	for _, bad := range []Config{
		{Prefix: "router.>"},
		{NS: "a.b"},
		{Group: "x y"},
		{Name: " bot"},
	} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v: want an error", bad)
		}
	}
	for _, args := range [][]string{{"-nope"}, {"extra"}, {"-log-level", "loud"}, {"-ns", "a.b"}} {
		if err := run(args); err == nil {
			t.Errorf("run %q: want an error", strings.Join(args, " "))
		}
	}
}
