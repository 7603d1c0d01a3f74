package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// adminHash is the bcrypt hash (cost 4) of "correct horse".
const adminHash = "$2a$04$AeRFUxJ9edXuHXincou/jeLL9WE7GV9rnzpOF3swMfeDsoWIPhGUS"

func TestAdminKeys(t *testing.T) {
	t.Parallel()
	cfg, err := loadYAML(t, `
auth: {jwt: {secret: s3cret}}
socketio: {enabled: true}
admin:
  enabled: true
  path: /ops/console
  users: [{name: ann, password_hash: "`+adminHash+`"}]
  jwt_claim: routerd_admin
  session_ttl: 1h
  socketio_ui: true
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Admin
	want := Admin{Enabled: true, Path: "/ops/console", Users: []AdminUser{{Name: "ann", PasswordHash: adminHash}},
		JWTClaim: "routerd_admin", SessionTTL: time.Hour, SocketIOUI: true}
	if a.Enabled != want.Enabled || a.Path != want.Path || !slices.Equal(a.Users, want.Users) ||
		a.JWTClaim != want.JWTClaim || a.SessionTTL != want.SessionTTL || a.SocketIOUI != want.SocketIOUI {
		t.Errorf("admin = %+v, want %+v", a, want)
	}

	// Defaults: off, at /admin, 12h sessions.
	def := Default().Admin
	if def.Enabled || def.Path != "/admin" || def.SessionTTL != 12*time.Hour || def.SocketIOUI || def.JWTClaim != "" || len(def.Users) != 0 {
		t.Errorf("default admin = %+v", def)
	}

	// Scalars come from the environment and flags too; users from the file only.
	cfg, err = loadYAML(t, "admin: {users: [{name: ann, password_hash: \""+adminHash+"\"}]}",
		[]string{"ROUTER_ADMIN_ENABLED=true", "ROUTER_ADMIN_SESSION_TTL=30m"}, "--admin.path", "/console")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Admin.Enabled || cfg.Admin.SessionTTL != 30*time.Minute || cfg.Admin.Path != "/console" {
		t.Errorf("admin from environment and flags = %+v", cfg.Admin)
	}
	_, err = loadYAML(t, "", []string{"ROUTER_ADMIN_USERS=ann"})
	if got := problemLines(t, err); !slices.Equal(got, []string{"ROUTER_ADMIN_USERS: cannot be set from the environment; set admin.users in the YAML file"}) {
		t.Errorf("ROUTER_ADMIN_USERS: %q", got)
	}
}

func TestAdminValidate(t *testing.T) {
	t.Parallel()
	user := `{name: ann, password_hash: "` + adminHash + `"}`
	tests := []struct {
		name string
		yaml string
		want []string // nil: valid
	}{
		{name: "off with no users", yaml: "admin: {enabled: false}"},
		{name: "on with users", yaml: "admin: {enabled: true, users: [" + user + "]}"},
		{name: "on with a claim", yaml: "auth: {jwt: {secret: s}}\nadmin: {enabled: true, jwt_claim: admin}"},
		{name: "on with nobody", yaml: "admin: {enabled: true}",
			want: []string{"admin.enabled: nobody could log in: set admin.users or admin.jwt_claim"}},
		{name: "a plain password", yaml: "admin: {enabled: true, users: [{name: ann, password_hash: hunter2}]}",
			want: []string{"admin.users[0].password_hash: must be a bcrypt hash ($2a$, $2b$ or $2y$; e.g. htpasswd -nbBC 12 '' PASSWORD | tr -d ':\\n'), never a plain password"}},
		{name: "no hash", yaml: "admin: {users: [{name: ann}]}",
			want: []string{"admin.users[0].password_hash: must be a bcrypt hash ($2a$, $2b$ or $2y$; e.g. htpasswd -nbBC 12 '' PASSWORD | tr -d ':\\n'), never a plain password"}},
		{name: "a hash cut short", yaml: `admin: {users: [{name: ann, password_hash: "` + adminHash[:40] + `"}]}`,
			want: []string{"admin.users[0].password_hash: must be a bcrypt hash ($2a$, $2b$ or $2y$; e.g. htpasswd -nbBC 12 '' PASSWORD | tr -d ':\\n'), never a plain password"}},
		{name: "names", yaml: "admin: {users: [" + user + ", " + user + `, {name: "", password_hash: "` + adminHash + `"}]}`,
			want: []string{`admin.users[1].name: duplicate admin "ann" (also admin.users[0])`, "admin.users[2].name: must be 1 to 256 bytes of text"}},
		{name: "a claim without a key", yaml: "admin: {jwt_claim: admin}",
			want: []string{"admin.jwt_claim: token logins are verified with auth.jwt: set auth.jwt.secret or auth.jwt.public_key_file"}},
		{name: "a claim with a space", yaml: "auth: {jwt: {secret: s}}\nadmin: {jwt_claim: \"is admin\"}",
			want: []string{"admin.jwt_claim: must be a claim name, without spaces or control characters"}},
		{name: "session ttl", yaml: "admin: {session_ttl: 30s}",
			want: []string{"admin.session_ttl: must be between 1m and 720h"}},
		{name: "path slash", yaml: "admin: {path: /admin/}",
			want: []string{`admin.path: invalid path "/admin/": want "/" and segments of [A-Za-z0-9_-] separated by "/", no trailing "/" (e.g. /admin)`}},
		{name: "path root", yaml: "admin: {path: /}",
			want: []string{`admin.path: invalid path "/": want "/" and segments of [A-Za-z0-9_-] separated by "/", no trailing "/" (e.g. /admin)`}},
		{name: "path with a pattern", yaml: "admin: {path: \"/{x}\"}",
			want: []string{`admin.path: invalid path "/{x}": want "/" and segments of [A-Za-z0-9_-] separated by "/", no trailing "/" (e.g. /admin)`}},
		{name: "path over the websocket", yaml: "http: {ws_path: /admin/ws}\nadmin: {enabled: true, path: /admin, users: [" + user + "]}",
			want: []string{"admin.path: /admin overlaps http.ws_path (/admin/ws)"}},
		{name: "path under socket.io", yaml: "socketio: {enabled: true, path: /io/}\nadmin: {enabled: true, path: /io/admin, users: [" + user + "]}",
			want: []string{"admin.path: /io/admin overlaps socketio.path (/io/)"}},
		{name: "path of metrics", yaml: "admin: {enabled: true, path: /metrics, users: [" + user + "]}",
			want: []string{"admin.path: /metrics overlaps the metrics endpoint (/metrics)"}},
		{name: "overlap when off", yaml: "admin: {enabled: false, path: /metrics}"},
		{name: "socket.io ui", yaml: "socketio: {enabled: true}\nadmin: {enabled: true, socketio_ui: true, users: [" + user + "]}"},
		{name: "socket.io ui alone", yaml: "admin: {socketio_ui: true}",
			want: []string{
				"admin.socketio_ui: requires admin.enabled",
				"admin.socketio_ui: requires admin.users (the Admin UI logs in with a name and a password)",
				"admin.socketio_ui: requires socketio.enabled (the Admin UI connects to the Socket.IO endpoint)",
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadYAML(t, tc.yaml, nil)
			if got := problemLines(t, err); !slices.Equal(got, tc.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestAdminHashNotEchoed: a password written where its hash belongs is a
// config error that does not repeat it.
func TestAdminHashNotEchoed(t *testing.T) {
	t.Parallel()
	_, err := loadYAML(t, "admin: {users: [{name: ann, password_hash: TopSecret-42}]}", nil)
	if err == nil {
		t.Fatal("a plain password was taken")
	}
	if strings.Contains(err.Error(), "TopSecret-42") {
		t.Errorf("the error repeats the password: %v", err)
	}
}
