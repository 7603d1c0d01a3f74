package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrNoKey is AdminClaim's error when no JWT key is configured.
var ErrNoKey = errors.New("no JWT key is configured (auth.jwt)")

// AdminClaim verifies token as a client's token is verified (the key and
// the algorithm pinned to it, exp and nbf with Leeway, aud and iss where
// auth.jwt.audience and issuer are set) and reports its subject, when it
// expires (zero without exp), and whether its claim called claim is the
// JSON value true: the admin console's login with a token (admin.jwt_claim).
// A token without a subject is refused.
func (a *Authenticator) AdminClaim(token, claim string) (subject string, expires time.Time, granted bool, err error) {
	if a.key == nil {
		return "", time.Time{}, false, ErrNoKey
	}
	claims := jwt.MapClaims{}
	opts := append([]jwt.ParserOption{jwt.WithValidMethods(a.methods), jwt.WithLeeway(Leeway)}, a.claims...)
	if _, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return a.key, nil }, opts...); err != nil {
		return "", time.Time{}, false, fmt.Errorf("auth: admin token: %w", err)
	}
	subject, err = claims.GetSubject()
	if err != nil || subject == "" {
		return "", time.Time{}, false, errors.New("auth: admin token: no sub claim")
	}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		expires = exp.Time
	}
	granted, _ = claims[claim].(bool)
	return subject, expires, granted, nil
}
