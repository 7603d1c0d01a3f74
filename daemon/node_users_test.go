package daemon_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/daemon"
	"github.com/routerd/routerd/internal/routertest"
)

// asyncErrors collects the asynchronous errors (permission violations) a
// NATS connection reports.
type asyncErrors struct {
	mu   sync.Mutex
	errs []string
}

func (a *asyncErrors) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	a.mu.Lock()
	a.errs = append(a.errs, err.Error())
	a.mu.Unlock()
}

func (a *asyncErrors) waitFor(t *testing.T, substr string) {
	t.Helper()
	routertest.Eventually(t, "async error "+substr, func() error {
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, e := range a.errs {
			if strings.Contains(e, substr) {
				return nil
			}
		}
		return fmt.Errorf("errors so far: %v", a.errs)
	})
}

func TestNATSUsers(t *testing.T) {
	t.Parallel()
	n := routertest.StartWith(t, func(cfg *config.Config) {
		cfg.Namespaces["tenant-*"] = config.DefaultNamespace()
		cfg.NATS.Users = []config.User{
			{User: "acme", Password: "acme-pw", Namespaces: []string{"tenant-acme"}},
			{User: "ops", Password: "ops-pw"},
		}
	})
	if _, err := nats.Connect(n.NATSURL()); err == nil {
		t.Fatal("an anonymous NATS client was accepted")
	}
	if _, err := nats.Connect(n.NATSURL(), nats.UserInfo("acme", "wrong")); err == nil {
		t.Fatal("a wrong password was accepted")
	}
	var acmeErrs asyncErrors
	acme := n.Backend(nats.UserInfo("acme", "acme-pw"), nats.CustomInboxPrefix(daemon.InboxPrefix("acme")), nats.ErrorHandler(acmeErrs.handler))
	ops := n.Backend(nats.UserInfo("ops", "ops-pw"))

	// routerd's own connection works: clients in both tenants are served
	a, g := n.Dial(), n.Dial()
	sa := a.Connect("tenant-acme")
	a.Join("tenant-acme", "lobby")
	g.Connect("tenant-globex")
	g.Join("tenant-globex", "lobby")

	mine := routertest.Subscribe(t, acme, "router.tenant-acme.>")
	everything := routertest.Subscribe(t, ops, "router.>")
	if _, err := acme.Subscribe("router.tenant-globex.>", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	acmeErrs.waitFor(t, `Permissions Violation for Subscription to "router.tenant-globex.>"`)
	if _, err := acme.Subscribe("_INBOX.>", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	acmeErrs.waitFor(t, `Permissions Violation for Subscription to "_INBOX.>"`)
	if err := acme.Publish("router.tenant-globex.room.lobby.spam", []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	acmeErrs.waitFor(t, `Permissions Violation for Publish to "router.tenant-globex.room.lobby.spam"`)

	a.Send(map[string]any{"type": "emit", "ns": "tenant-acme", "room": "lobby", "event": "hi", "self": true})
	g.Send(map[string]any{"type": "emit", "ns": "tenant-globex", "room": "lobby", "event": "hi", "self": true})
	a.Next(routertest.IsEvent("hi"))
	g.Next(routertest.IsEvent("hi"))
	routertest.Eventually(t, "ops sees both tenants", func() error {
		var acmeSeen, globexSeen bool
		for _, m := range everything.Msgs() {
			acmeSeen = acmeSeen || m.Subject == "router.tenant-acme.room.lobby.hi"
			globexSeen = globexSeen || m.Subject == "router.tenant-globex.room.lobby.hi"
		}
		if !acmeSeen || !globexSeen {
			return fmt.Errorf("acme %v, globex %v", acmeSeen, globexSeen)
		}
		return nil
	})
	for _, m := range mine.WaitN(t, 1) {
		if !strings.HasPrefix(m.Subject, "router.tenant-acme.") {
			t.Errorf("acme saw %s", m.Subject)
		}
	}

	// acme can publish to its rooms, answer its server-bound requests and
	// use ctl with its own inbox prefix
	if err := acme.Publish("router.tenant-acme.room.lobby.news", []byte(`"from acme"`)); err != nil {
		t.Fatal(err)
	}
	a.Next(routertest.IsEvent("news"))
	sub, err := acme.Subscribe("router.tenant-acme.server.ping", func(m *nats.Msg) { _ = m.Respond([]byte(`"pong"`)) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	_ = acme.Flush()
	if r := a.MustAck(map[string]any{"type": "emit", "ns": "tenant-acme", "event": "ping"}); r.JSON("data") != `"pong"` {
		t.Errorf("request answered by the tenant = %v", r)
	}
	rep, err := acme.Request("router.tenant-acme.ctl.presence", []byte(`{"room":"lobby"}`), 2*time.Second)
	if err != nil {
		t.Fatalf("ctl from the tenant: %v", err)
	}
	if !strings.Contains(string(rep.Data), sa) {
		t.Errorf("ctl presence = %s", rep.Data)
	}
	if _, err := acme.Request("router.tenant-globex.ctl.presence", []byte(`{"room":"lobby"}`), 500*time.Millisecond); err == nil {
		t.Error("ctl into another tenant answered")
	}
}
