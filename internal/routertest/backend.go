package routertest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
)

// Publish publishes one message as a backend would and waits until the
// server has it.
func Publish(t testing.TB, nc *nats.Conn, subject string, data []byte, h nats.Header) {
	t.Helper()
	if err := nc.PublishMsg(&nats.Msg{Subject: subject, Data: data, Header: h}); err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

// CtlTry sends a control request and returns the decoded reply. It checks
// that the request got exactly one reply: after the reply it makes another
// control request (a rooms request) and, once that is answered, no second
// reply to the first may be waiting. routerd's ctl handler answers one
// request after the other, so on one node a duplicate reply would have
// arrived by then.
func CtlTry(nc *nats.Conn, subject, body string) (map[string]any, error) {
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest(subject, inbox, []byte(body)); err != nil {
		return nil, err
	}
	m, err := sub.NextMsg(Wait)
	if err != nil {
		return nil, fmt.Errorf("%s %s: no reply: %w", subject, body, err)
	}
	var rep map[string]any
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		return nil, fmt.Errorf("%s %s: reply %q is not a JSON object", subject, body, m.Data)
	}
	barrier := subject[:strings.LastIndexByte(subject, '.')] + ".rooms"
	if _, err := nc.Request(barrier, []byte(`{}`), Wait); err != nil {
		return nil, fmt.Errorf("barrier %s: %w", barrier, err)
	}
	if n, _, _ := sub.Pending(); n != 0 {
		return nil, fmt.Errorf("%s %s: %d more replies after %s", subject, body, n, m.Data)
	}
	return rep, nil
}

// CtlCall is CtlTry that fails the test on error.
func CtlCall(t testing.TB, nc *nats.Conn, subject, body string) map[string]any {
	t.Helper()
	rep, err := CtlTry(nc, subject, body)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// WantCount fails unless rep is {"ok":true,"count":n}.
func WantCount(t testing.TB, what string, rep map[string]any, n int) {
	t.Helper()
	EqualJSON(t, what, MustJSON(t, rep), fmt.Sprintf(`{"ok":true,"count":%d}`, n))
}

// MustJSON encodes v.
func MustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return string(b)
}

// JSONValue decodes JSON text, failing the test when it is not JSON.
func JSONValue(t testing.TB, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %q: %v", s, err)
	}
	return v
}

// EqualJSON fails unless got and want hold the same JSON value (object key
// order does not matter).
func EqualJSON(t testing.TB, what, got, want string) {
	t.Helper()
	if !reflect.DeepEqual(JSONValue(t, got), JSONValue(t, want)) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}
