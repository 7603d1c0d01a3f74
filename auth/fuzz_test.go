package auth

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/routerd/routerd/config"
	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/router"
)

const fuzzSecret = "fuzz-secret-fuzz-secret-fuzz-32!"

// Audience and issuer of the fuzzed authenticator that checks them.
const fuzzAud, fuzzIss = "routerd", "https://id.example/"

// FuzzJWT feeds arbitrary tokens and claims through verification: nothing
// panics, a token accepted was signed with the secret by HS256, its ns claim
// admits the namespace, and its sub becomes the user; where
// auth.jwt.audience and issuer are set, its aud lists the one and its iss is
// the other.
func FuzzJWT(f *testing.F) {
	cfg := config.Default()
	cfg.Auth.JWT.Secret = fuzzSecret
	a, err := New(&cfg, nil)
	if err != nil {
		f.Fatal(err)
	}
	cfg.Auth.JWT.Audience, cfg.Auth.JWT.Issuer = fuzzAud, fuzzIss
	strict, err := New(&cfg, nil)
	if err != nil {
		f.Fatal(err)
	}
	sign := func(claims string) string {
		var m jwt.MapClaims
		if json.Unmarshal([]byte(claims), &m) != nil {
			m = jwt.MapClaims{}
		}
		s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, m).SignedString([]byte(fuzzSecret))
		return s
	}
	f.Add("", `{"sub":"a"}`)
	f.Add("not.a.jwt", `{"sub":"a","ns":["c*"]}`)
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.", `{"sub":"a","exp":1}`)
	f.Add("x", `{"sub":"b","ns":"chat","rooms":[1]}`)
	f.Add("x", `{"sub":7,"nbf":99999999999}`)
	f.Add("x", `{"sub":"c","aud":"routerd","iss":"https://id.example/"}`)
	f.Add("x", `{"sub":"c","aud":["x","routerd"],"iss":"https://id.example/"}`)
	f.Add("x", `{"sub":"c","aud":[7],"iss":"https://id.example/"}`)
	f.Add("x", `{"sub":"c","aud":"routerd","iss":["https://id.example/"]}`)
	f.Fuzz(func(t *testing.T, token, claims string) {
		for _, tok := range []string{token, sign(claims)} {
			raw, _ := json.Marshal(map[string]string{"token": tok})
			_, strictErr := strict.jwt("chat", raw)
			id, err := a.jwt("chat", raw)
			if err != nil {
				if strictErr == nil {
					t.Fatalf("accepted with audience and issuer, refused without: %q", tok)
				}
				if e := router.AsError(err); e.Code != contract.CodeUnauthorized && e.Code != contract.CodeForbidden {
					t.Fatalf("refusal code %q", e.Code)
				}
				continue
			}
			c := &Claims{}
			parsed, perr := jwt.ParseWithClaims(tok, c, func(*jwt.Token) (any, error) { return []byte(fuzzSecret), nil },
				jwt.WithValidMethods([]string{"HS256"}), jwt.WithLeeway(Leeway))
			if perr != nil || !parsed.Valid {
				t.Fatalf("accepted a token the library rejects: %q (%v)", tok, perr)
			}
			if id.User != c.Subject {
				t.Fatalf("user %q, sub %q", id.User, c.Subject)
			}
			if len(c.NS) > 0 && !router.MatchAny(c.NS, "chat") {
				t.Fatalf("accepted for chat with ns %v", c.NS)
			}
			if !id.Expires.IsZero() && id.Expires.Before(time.Now()) {
				t.Fatalf("accepted an expired token: %v", id.Expires)
			}
			if want := slices.Contains(c.Audience, fuzzAud) && c.Issuer == fuzzIss; (strictErr == nil) != want {
				t.Fatalf("aud %q, iss %q with audience %q, issuer %q: accepted %v, want %v", c.Audience, c.Issuer, fuzzAud, fuzzIss, strictErr == nil, want)
			}
		}
	})
}
