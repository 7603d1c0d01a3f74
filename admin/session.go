package admin

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"
)

// maxSessions bounds the sessions a node keeps: a login past it ends the
// session that expires first.
const maxSessions = 1024

// session is one logged-in admin.
type session struct {
	key     [sha256.Size]byte // the SHA-256 of its token
	name    string            // the admin's identity: an admin.users name, or a token's sub
	csrf    string            // the token every POST must carry in the X-CSRF-Token header
	expires time.Time         // admin.session_ttl after the login, or the token's exp when sooner
	method  string            // how the admin logged in: "password" or "token"
}

// sessions keeps the sessions of this node in memory: a session is valid
// on the node that made it only (a load balancer needs stickiness for the
// console, or the admin logs in again on each node). Only the SHA-256 of a
// session's token is kept, so the table holds nothing a cookie can be
// made from.
type sessions struct {
	mu  sync.Mutex
	all map[[sha256.Size]byte]*session // by the SHA-256 of the token; guarded by mu
}

func newSessions() *sessions {
	return &sessions{all: make(map[[sha256.Size]byte]*session)}
}

// randomToken returns 256 random bits in unpadded base64url.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// create starts a session for name, valid until expires, and returns its
// token (the cookie's value) and the session.
func (s *sessions) create(name, method string, expires time.Time) (string, *session) {
	token := randomToken()
	ss := &session{key: sha256.Sum256([]byte(token)), name: name, csrf: randomToken(), expires: expires, method: method}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var first [sha256.Size]byte
	var firstAt time.Time
	for k, v := range s.all {
		if !now.Before(v.expires) {
			delete(s.all, k)
		} else if firstAt.IsZero() || v.expires.Before(firstAt) {
			first, firstAt = k, v.expires
		}
	}
	if len(s.all) >= maxSessions {
		delete(s.all, first)
	}
	s.all[ss.key] = ss
	return token, ss
}

// get returns the live session of token, or nil.
func (s *sessions) get(token string) *session {
	if token == "" {
		return nil
	}
	k := sha256.Sum256([]byte(token))
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.all[k]
	if ss == nil {
		return nil
	}
	if !time.Now().Before(ss.expires) {
		delete(s.all, k)
		return nil
	}
	return ss
}

// end ends the session of token.
func (s *sessions) end(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.all, sha256.Sum256([]byte(token)))
}

// live reports whether ss is still a live session (not ended, not expired).
func (s *sessions) live(ss *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.all[ss.key] == ss && time.Now().Before(ss.expires)
}

// csrfOK reports whether token is the session's CSRF token.
func (ss *session) csrfOK(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(ss.csrf)) == 1
}
