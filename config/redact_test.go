package config

import "testing"

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"nats://u:secret@host:4222":                "nats://u:xxxxx@host:4222",
		"nats://token@host:4222":                   "nats://xxxxx@host:4222",
		"nats://host:4222":                         "nats://host:4222",
		"host:4222":                                "host:4222",
		"u:secret@host:4222":                       "xxxxx@host:4222",
		"tls://u:p%40ss@h:1":                       "tls://u:xxxxx@h:1",
		"nats-route://r:secret@10.0.0.1:6222/path": "nats-route://r:xxxxx@10.0.0.1:6222/path",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
	if got := RedactURLs("nats://a:1,nats://u:secret@b:2"); got != "nats://a:1,nats://u:xxxxx@b:2" {
		t.Errorf("RedactURLs = %q", got)
	}
}
