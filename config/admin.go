package config

import (
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Admin is the admin console (extension, off by default): a page at
// Path that shows the cluster live and acts on sockets through ctl
// (package admin), and, with SocketIOUI, the namespace of the official
// Socket.IO Admin UI.
type Admin struct {
	// Enabled serves the console at Path (default false).
	Enabled bool `koanf:"enabled"`
	// Path is where the console is served: /admin by default; segments
	// of [A-Za-z0-9_-], no trailing slash.
	Path string `koanf:"path"`
	// Users may log in with a name and a password; each password is kept
	// as a bcrypt hash, never in plain text.
	Users []AdminUser `koanf:"users"`
	// JWTClaim, when set, lets a JWT verified with auth.jwt (its key,
	// audience and issuer) log in when its claim of that name is the
	// JSON value true; its sub is the admin's name.
	JWTClaim string `koanf:"jwt_claim"`
	// SessionTTL is how long a login lasts (default 12h); a token login
	// ends at the token's exp when that is sooner.
	SessionTTL time.Duration `koanf:"session_ttl"`
	// SocketIOUI serves the namespace of the official Socket.IO Admin
	// UI (socket.io-admin-ui) on the Socket.IO endpoint, its logins
	// checked against Users (default false).
	SocketIOUI bool `koanf:"socketio_ui"`
}

// AdminUser is one admin who logs in with a name and a password.
type AdminUser struct {
	Name string `koanf:"name"`
	// PasswordHash is the bcrypt hash of the password ($2a$, $2b$ or
	// $2y$, e.g. from htpasswd -nbBC 12 '' PASSWORD).
	PasswordHash string `koanf:"password_hash"`
}

// Bounds of admin.session_ttl.
const (
	MinAdminSessionTTL = time.Minute
	MaxAdminSessionTTL = 30 * 24 * time.Hour
)

// validateAdmin checks admin.*.
func (c *Config) validateAdmin(p *Problems) {
	a := &c.Admin
	if !validAdminPath(a.Path) {
		p.add("admin.path", "invalid path %q: want \"/\" and segments of [A-Za-z0-9_-] separated by \"/\", no trailing \"/\" (e.g. /admin)", a.Path)
	} else if a.Enabled || a.SocketIOUI {
		taken := [][2]string{{"http.ws_path", c.HTTP.WSPath}, {"the health endpoint", "/healthz"},
			{"the readiness endpoint", "/readyz"}, {"the metrics endpoint", "/metrics"}, {"http.pprof", "/debug/pprof/"}}
		if c.SocketIO.Enabled {
			taken = append(taken, [2]string{"socketio.path", c.SocketIO.Path})
		}
		for _, t := range taken {
			if pathsOverlap(a.Path, t[1]) {
				p.add("admin.path", "%s overlaps %s (%s)", a.Path, t[0], t[1])
			}
		}
	}
	seen := map[string]int{}
	for i, u := range a.Users {
		key := fmt.Sprintf("admin.users[%d]", i)
		switch {
		case u.Name == "" || len(u.Name) > 256 || strings.ContainsFunc(u.Name, func(r rune) bool { return r < ' ' || r == 0x7f }):
			p.add(key+".name", "must be 1 to 256 bytes of text")
		default:
			if j, dup := seen[u.Name]; dup {
				p.add(key+".name", "duplicate admin %q (also admin.users[%d])", u.Name, j)
			}
			seen[u.Name] = i
		}
		// The value is never repeated: it may be a password.
		if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			p.add(key+".password_hash", "must be a bcrypt hash ($2a$, $2b$ or $2y$; e.g. htpasswd -nbBC 12 '' PASSWORD | tr -d ':\\n'), never a plain password")
		}
	}
	if a.JWTClaim != "" && c.Auth.JWT.Secret == "" && c.Auth.JWT.PublicKeyFile == "" {
		p.add("admin.jwt_claim", "token logins are verified with auth.jwt: set auth.jwt.secret or auth.jwt.public_key_file")
	}
	if strings.ContainsFunc(a.JWTClaim, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		p.add("admin.jwt_claim", "must be a claim name, without spaces or control characters")
	}
	if a.SessionTTL < MinAdminSessionTTL || a.SessionTTL > MaxAdminSessionTTL {
		p.add("admin.session_ttl", "must be between %gm and %gh", MinAdminSessionTTL.Minutes(), MaxAdminSessionTTL.Hours())
	}
	if a.Enabled && len(a.Users) == 0 && a.JWTClaim == "" {
		p.add("admin.enabled", "nobody could log in: set admin.users or admin.jwt_claim")
	}
	if a.SocketIOUI {
		if !a.Enabled {
			p.add("admin.socketio_ui", "requires admin.enabled")
		}
		if !c.SocketIO.Enabled {
			p.add("admin.socketio_ui", "requires socketio.enabled (the Admin UI connects to the Socket.IO endpoint)")
		}
		if len(a.Users) == 0 {
			p.add("admin.socketio_ui", "requires admin.users (the Admin UI logs in with a name and a password)")
		}
	}
}

// validAdminPath reports whether s is "/" and segments of [A-Za-z0-9_-]
// separated by "/", without a trailing "/".
func validAdminPath(s string) bool {
	if len(s) < 2 || s[0] != '/' || len(s) > 256 {
		return false
	}
	for seg := range strings.SplitSeq(s[1:], "/") {
		if seg == "" {
			return false
		}
		for i := 0; i < len(seg); i++ {
			if !isNameByte(seg[i]) {
				return false
			}
		}
	}
	return true
}

// pathsOverlap reports whether the console at base (/admin, serving
// /admin and /admin/...) would take requests meant for the endpoint at
// other, or other for the console: one is the other, or under it.
func pathsOverlap(base, other string) bool {
	o := strings.TrimSuffix(other, "/")
	return o == base || strings.HasPrefix(o, base+"/") || strings.HasPrefix(base+"/", o+"/") || o == ""
}
