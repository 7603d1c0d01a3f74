package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestV1Scan(t *testing.T) {
	msg := strings.Join([]string{
		`{"type":"event","ns":"chat","event":"bench","room":"r","from":"s1","data":{"t":100,"q":1,"p":"xx"}}`,
		`{"type":"event","ns":"chat","event":"$join","room":"r","data":{"sid":"s2"}}`,
		`{"type":"ack","id":3}`,
		`{"type":"error","ns":"chat","code":"rate_limited","message":"more than 100 frames per second"}`,
		`{"type":"event","ns":"chat","event":"bench","room":"r","from":"s1","data":{"t":200,"q":4294967298}}`,
		`{"type":"disconnected","ns":"chat","reason":"kicked"}`,
	}, "\n")
	var in inbound
	in.errors = []string{"stale"}
	v1{}.scan([]byte(msg), &in)
	if !slices.Equal(in.stamps, []stamp{{100, 0, 1}, {200, 1, 2}}) {
		t.Errorf("stamps = %v", in.stamps)
	}
	if !slices.Equal(in.errors, []string{"rate_limited", "disconnected:kicked"}) {
		t.Errorf("errors = %v", in.errors)
	}
	if in.reply != nil {
		t.Errorf("reply = %q", in.reply)
	}
}

func TestV1EmitFrame(t *testing.T) {
	for _, self := range []bool{false, true} {
		prefix, suffix := v1{}.emitFrame("chat", `a "quoted" room`, self)
		msg := string(prefix) + `{"t":1}` + string(suffix)
		var f map[string]any
		if err := json.Unmarshal([]byte(msg), &f); err != nil {
			t.Fatalf("%s: %v", msg, err)
		}
		if f["type"] != "emit" || f["ns"] != "chat" || f["room"] != `a "quoted" room` || f["event"] != "bench" ||
			f["data"].(map[string]any)["t"] != 1.0 || (f["self"] == true) != self {
			t.Errorf("self %v: %s", self, msg)
		}
	}
}

func TestSocketIOScan(t *testing.T) {
	var in inbound
	for msg, want := range map[string]string{
		`42/chat,["message",{"t":300,"q":1,"p":"xx"}]`: "stamp 300",
		`42["message",{"t":301,"q":2}]`:                "stamp 301",
		`42/chat,["other",{"x":1}]`:                    "",
		`2`:                                            "reply 3",
		`41/chat,`:                                     "error disconnected",
		`1`:                                            "error engine.io close",
		`43/chat,1[]`:                                  "",
	} {
		socketIO{}.scan([]byte(msg), &in)
		var got string
		switch {
		case len(in.stamps) == 1:
			got = "stamp " + jsonNumber(in.stamps[0].sent)
		case in.reply != nil:
			got = "reply " + string(in.reply)
		case len(in.errors) == 1:
			got = "error " + in.errors[0]
		}
		if got != want {
			t.Errorf("scan(%s) = %q, want %q", msg, got, want)
		}
	}
}

func jsonNumber(v int64) string { b, _ := json.Marshal(v); return string(b) }

func TestSocketIOEmitFrame(t *testing.T) {
	for ns, want := range map[string]string{"chat": "42/chat,", "/chat": "42/chat,", "/": "42", "": "42"} {
		prefix, suffix := socketIO{}.emitFrame(ns, "r", true)
		msg := string(prefix) + `{"t":1}` + string(suffix)
		if !strings.HasPrefix(msg, want+"[") {
			t.Errorf("ns %q: %s, want prefix %s", ns, msg, want)
			continue
		}
		var args []any
		if err := json.Unmarshal([]byte(msg[len(want):]), &args); err != nil || len(args) != 4 || args[0] != "message" || args[1] != "r" || args[3] != true {
			t.Errorf("ns %q: %s: %v", ns, msg, err)
		}
	}
}
