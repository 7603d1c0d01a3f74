package admin

import (
	"crypto/subtle"

	"golang.org/x/crypto/bcrypt"

	"github.com/routerd/routerd/config"
)

// noUserHash is a bcrypt hash (cost 10) that no password given to
// CheckPassword is checked against with any effect: it is compared when
// admin.users is empty, so that a refusal takes as long as a check.
const noUserHash = "$2a$10$pRbB6ZNpouKAH7fZf5fDqOSMCIMFs4WgzDR8CBtew1DafXnFnBtcu"

// CheckPassword reports whether password is the password of the admin
// user called name in users (admin.users, whose password_hash config
// validation made sure is a bcrypt hash). It takes about as long for a
// name that is no user's as for a user's: the names are compared in
// constant time, every one of them, and the password is then compared with
// bcrypt against the user's hash, or, for an unknown name, against the
// first user's hash (of the cost the operator chose) and the result
// thrown away. The Socket.IO Admin UI (admin.socketio_ui) logs in with it
// too.
func CheckPassword(users []config.AdminUser, name, password string) bool {
	hash, found := noUserHash, false
	if len(users) > 0 {
		hash = users[0].PasswordHash
	}
	for _, u := range users {
		if subtle.ConstantTimeCompare([]byte(u.Name), []byte(name)) == 1 && !found {
			hash, found = u.PasswordHash, true
		}
	}
	err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
	return found && err == nil
}
