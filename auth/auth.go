// Package auth decides who may attach to a namespace: JWT verification
// (auth: jwt) and delegation to a backend over NATS (auth: backend). It
// implements router.Authenticator.
package auth

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/internal/bus"
	"github.com/routerd/routerd/router"
)

// Leeway is the clock skew tolerated on exp and nbf.
const Leeway = 5 * time.Second

// Authenticator verifies the auth object of connect frames.
type Authenticator struct {
	key     any      // HMAC secret ([]byte) or public key; nil when jwt is not configured
	methods []string // the one algorithm the key allows
	// claims checks aud and iss, where auth.jwt.audience and issuer are set.
	claims  []jwt.ParserOption
	bus     *bus.Bus
	node    string
	subj    contract.Subjects
	timeout time.Duration
}

// New returns an Authenticator for cfg. b carries backend auth requests, on
// the connection of each namespace's account.
func New(cfg *config.Config, b *bus.Bus) (*Authenticator, error) {
	a := &Authenticator{bus: b, node: cfg.Node.Name, subj: contract.NewSubjects(cfg.NATS.Prefix), timeout: cfg.Limits.AckTimeout}
	j := cfg.Auth.JWT
	switch {
	case j.Secret != "":
		a.key, a.methods = []byte(j.Secret), []string{"HS256"}
	case j.PublicKeyFile != "":
		pem, err := os.ReadFile(j.PublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("auth.jwt.public_key_file: %w", err)
		}
		key, method, err := parsePublicKey(pem)
		if err != nil {
			return nil, fmt.Errorf("auth.jwt.public_key_file %s: %w", j.PublicKeyFile, err)
		}
		a.key, a.methods = key, []string{method}
	}
	if j.Audience != "" {
		a.claims = append(a.claims, jwt.WithAudience(j.Audience))
	}
	if j.Issuer != "" {
		a.claims = append(a.claims, jwt.WithIssuer(j.Issuer))
	}
	return a, nil
}

// parsePublicKey reads an RSA or EC public key and the algorithm pinned to it.
func parsePublicKey(pem []byte) (crypto.PublicKey, string, error) {
	if k, err := jwt.ParseRSAPublicKeyFromPEM(pem); err == nil {
		return k, "RS256", nil
	}
	if k, err := jwt.ParseECPublicKeyFromPEM(pem); err == nil {
		if k.Curve.Params().BitSize != 256 {
			return nil, "", fmt.Errorf("EC key on %s: ES256 needs P-256", k.Curve.Params().Name)
		}
		return k, "ES256", nil
	}
	return nil, "", errors.New("not a PEM RSA or EC (P-256) public key")
}

// Authenticate implements router.Authenticator.
func (a *Authenticator) Authenticate(ctx context.Context, ns string, policy config.Namespace, raw json.RawMessage, info router.ConnInfo) (router.Identity, error) {
	switch policy.Auth {
	case config.AuthJWT:
		return a.jwt(ns, raw)
	case config.AuthBackend:
		return a.backend(ctx, ns, raw, info)
	}
	return router.Identity{}, nil
}

// Claims are the JWT claims routerd reads (docs/protocol.md#authentication).
type Claims struct {
	jwt.RegisteredClaims
	// NS lists the namespace names or globs the token is valid for; empty: any.
	NS []string `json:"ns,omitempty"`
	// Rooms lists the room globs the socket may join; absent: any.
	Rooms []string `json:"rooms,omitempty"`
}

func (a *Authenticator) jwt(ns string, raw json.RawMessage) (router.Identity, error) {
	if a.key == nil {
		return router.Identity{}, router.Errorf(contract.CodeUnauthorized, "no JWT key is configured")
	}
	var obj struct {
		Token string `json:"token"`
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &obj); err != nil {
			return router.Identity{}, router.Errorf(contract.CodeBadFrame, "auth.token must be a string")
		}
	}
	if obj.Token == "" {
		return router.Identity{}, router.Errorf(contract.CodeUnauthorized, "namespace %q needs auth.token", ns)
	}
	claims, err := a.verify(obj.Token)
	if err != nil {
		return router.Identity{}, router.Errorf(contract.CodeUnauthorized, "invalid token: %v", err)
	}
	if len(claims.NS) > 0 && !router.MatchAny(claims.NS, ns) {
		return router.Identity{}, router.Errorf(contract.CodeForbidden, "the token is not valid for namespace %q", ns)
	}
	id := router.Identity{User: claims.Subject, Rooms: claims.Rooms}
	if claims.ExpiresAt != nil {
		id.Expires = claims.ExpiresAt.Add(Leeway)
	}
	return id, nil
}

// verify checks a token's signature with the one algorithm pinned to the
// configured key, its exp and nbf, and its aud and iss where
// auth.jwt.audience and auth.jwt.issuer are set.
func (a *Authenticator) verify(token string) (*Claims, error) {
	claims := &Claims{}
	opts := append([]jwt.ParserOption{jwt.WithValidMethods(a.methods), jwt.WithLeeway(Leeway)}, a.claims...)
	_, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return a.key, nil }, opts...)
	if err != nil {
		return nil, err
	}
	return claims, nil
}

// backend asks P.{ns}.auth and reads its contract.AuthReply. The request
// body is the client's auth object as it is ({} when absent); what else a
// backend may need travels in headers: Router-Ns, Router-Node,
// Router-Remote-Addr, Router-Url, Router-Query (when the client gave a
// query) and the opening request's HTTP headers as Http-<Name>.
func (a *Authenticator) backend(ctx context.Context, ns string, raw json.RawMessage, info router.ConnInfo) (router.Identity, error) {
	if len(raw) == 0 {
		raw = json.RawMessage("{}")
	}
	h := nats.Header{contract.HeaderNs: {ns}, contract.HeaderNode: {a.node}, contract.HeaderRemoteAddr: {info.RemoteAddr}}
	if info.URL != "" {
		h[contract.HeaderURL] = []string{info.URL}
	}
	if info.Query != "" {
		h[contract.HeaderQuery] = []string{info.Query}
	}
	for name, v := range info.Header.All() {
		h[contract.HeaderHTTPPrefix+name] = append(h[contract.HeaderHTTPPrefix+name], v)
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	m, err := a.bus.For(ns).NC().RequestMsgWithContext(ctx, &nats.Msg{Subject: a.subj.Auth(ns), Data: raw, Header: h})
	if err != nil {
		return router.Identity{}, router.Errorf(contract.CodeUnauthorized, "%s", authUnavailable(err))
	}
	var rep contract.AuthReply
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		return router.Identity{}, router.Errorf(contract.CodeUnauthorized, "auth backend answered no JSON object")
	}
	if !rep.Allow {
		msg := rep.Message
		if msg == "" {
			msg = "refused by the auth backend"
		}
		return router.Identity{}, router.Errorf(contract.CodeUnauthorized, "%s", msg)
	}
	return router.Identity{User: rep.User, Rooms: rep.Rooms}, nil
}

// authUnavailable says why no auth reply came, in the client's terms: the
// NATS client's own error text is routerd's business, not the client's.
func authUnavailable(err error) string {
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return "no auth backend is listening"
	case errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "the auth backend did not answer in time"
	}
	return "the auth backend is unavailable"
}
