package daemon

import (
	"slices"
	"strings"
	"testing"

	"github.com/routerd/routerd/config"
)

// TestLeafRemotes: the embedded server's leafnode remotes as the config
// gives them. A bare host:port is a nats-leaf URL, a tls:// URL asks for
// TLS, a tenant's remote binds the tenant's account, and routerd's own
// account's remote carries none of the subjects that account imports from
// the tenants.
func TestLeafRemotes(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.NATS.Users = []config.User{{User: "acme", Password: "pw", Namespaces: []string{"acme-chat"}}}
	cfg.NATS.Leafnodes.Remotes = []config.LeafRemote{
		{URL: []string{"hub-1:7422", "nats-leaf://edge:secret@hub-2:7422"}},
		{URL: []string{"tls://hub-1:7422"}, Account: "acme"},
	}
	remotes, err := leafRemotes(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(remotes) != 2 {
		t.Fatalf("%d remotes", len(remotes))
	}
	own, acme := remotes[0], remotes[1]
	if got := own.URLs[0].String() + " " + own.URLs[1].Redacted(); got != "nats-leaf://hub-1:7422 nats-leaf://edge:xxxxx@hub-2:7422" {
		t.Errorf("URLs = %s", got)
	}
	if own.LocalAccount != "" || own.TLS {
		t.Errorf("routerd's remote: account %q, TLS %v", own.LocalAccount, own.TLS)
	}
	want := observedSubjects("router", []string{"acme-chat"})
	if !slices.Equal(own.DenyImports, want) || !slices.Equal(own.DenyExports, want) {
		t.Errorf("routerd's remote denies imports %v, exports %v; want %v", own.DenyImports, own.DenyExports, want)
	}
	if acme.LocalAccount != "acme" || !acme.TLS || acme.DenyImports != nil || acme.DenyExports != nil {
		t.Errorf("acme's remote: account %q, TLS %v, deny %v %v", acme.LocalAccount, acme.TLS, acme.DenyImports, acme.DenyExports)
	}

	cfg.NATS.Leafnodes.Remotes = []config.LeafRemote{{URL: []string{"nats-leaf://edge:secret@hub:bad port"}}}
	if _, err := leafRemotes(&cfg); err == nil || strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "nats.leafnodes.remotes[0].url") {
		t.Errorf("a bad URL: %v", err)
	}
}
