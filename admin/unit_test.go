package admin

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/routerd/routerd/config"
)

// Hashes (bcrypt, cost 4) of "correct horse" and "battery staple".
const (
	hashHorse   = "$2a$04$AeRFUxJ9edXuHXincou/jeLL9WE7GV9rnzpOF3swMfeDsoWIPhGUS"
	hashBattery = "$2a$04$.oiRYBUWrkY8mW03m1OuuO/eeVmEDWt3/PkgG6h422LoPs5QKdifG"
)

func TestCheckPassword(t *testing.T) {
	users := []config.AdminUser{{Name: "ann", PasswordHash: hashHorse}, {Name: "bob", PasswordHash: hashBattery}}
	for _, tc := range []struct {
		users          []config.AdminUser
		name, password string
		want           bool
	}{
		{users, "ann", "correct horse", true},
		{users, "bob", "battery staple", true},
		{users, "ann", "battery staple", false}, // bob's password
		{users, "bob", "correct horse", false},  // ann's
		{users, "carol", "correct horse", false},
		{users, "", "correct horse", false},
		{users, "Ann", "correct horse", false},
		{users, "ann", "", false},
		{nil, "ann", "correct horse", false},
		{[]config.AdminUser{{Name: "ann", PasswordHash: "correct horse"}}, "ann", "correct horse", false}, // not a hash
	} {
		if got := CheckPassword(tc.users, tc.name, tc.password); got != tc.want {
			t.Errorf("CheckPassword(%d users, %q, %q) = %v, want %v", len(tc.users), tc.name, tc.password, got, tc.want)
		}
	}
}

func TestSessions(t *testing.T) {
	s := newSessions()
	token, ss := s.create("ann", "password", time.Now().Add(time.Hour))
	if got := s.get(token); got != ss || !s.live(ss) || got.name != "ann" {
		t.Fatalf("get: %+v", got)
	}
	if s.get(token+"x") != nil || s.get("") != nil {
		t.Error("a wrong token has a session")
	}
	if !ss.csrfOK(ss.csrf) || ss.csrfOK("") || ss.csrfOK(ss.csrf[1:]) {
		t.Error("csrfOK")
	}
	s.end(token)
	if s.get(token) != nil || s.live(ss) {
		t.Error("a session lives on after end")
	}

	old, oldSS := s.create("bob", "token", time.Now().Add(-time.Second))
	if s.get(old) != nil || s.live(oldSS) {
		t.Error("an expired session is live")
	}

	first, _ := s.create("first", "password", time.Now().Add(time.Minute))
	for range maxSessions - 1 {
		s.create("x", "password", time.Now().Add(time.Hour))
	}
	if s.get(first) == nil || len(s.all) != maxSessions {
		t.Fatalf("%d sessions", len(s.all))
	}
	s.create("one more", "password", time.Now().Add(time.Hour))
	if s.get(first) != nil || len(s.all) != maxSessions {
		t.Errorf("past maxSessions the session expiring first goes: %d sessions", len(s.all))
	}
}

func TestOriginOK(t *testing.T) {
	for _, tc := range []struct {
		headers map[string]string
		want    bool
	}{
		{nil, true}, // not a browser
		{map[string]string{"Origin": "http://console.example:8080"}, true},
		{map[string]string{"Origin": "https://CONSOLE.example:8080"}, true},
		{map[string]string{"Origin": "http://console.example"}, false}, // another port
		{map[string]string{"Origin": "https://evil.example"}, false},
		{map[string]string{"Origin": "null"}, false},
		{map[string]string{"Origin": "https://proxy.example", "X-Forwarded-Host": "proxy.example"}, true},
		{map[string]string{"Sec-Fetch-Site": "same-origin"}, true},
		{map[string]string{"Sec-Fetch-Site": "none"}, true},
		{map[string]string{"Sec-Fetch-Site": "same-site"}, false},
		{map[string]string{"Sec-Fetch-Site": "cross-site"}, false},
	} {
		r := httptest.NewRequest("POST", "http://console.example:8080/admin/api/action", nil)
		for k, v := range tc.headers {
			r.Header.Set(k, v)
		}
		if got := originOK(r); got != tc.want {
			t.Errorf("originOK(%v) = %v, want %v", tc.headers, got, tc.want)
		}
	}
}

func TestClusterRates(t *testing.T) {
	t0 := time.Unix(1000, 0)
	prev := map[string]sample{"a": {at: t0, c: counters{Deliveries: 100, SlowConsumer: 1, Acks: 10, AckSeconds: 1,
		AckBuckets: []bucket{{Le: 0.01, N: 5}, {Le: 0.1, N: 10}, {Le: 1, N: 10}}}}}
	reports := []nodeReport{
		{ID: "a", Counters: counters{Deliveries: 300, SlowConsumer: 3, RateLimited: 4, Dropped: 2, Acks: 110, AckSeconds: 3,
			AckBuckets: []bucket{{Le: 0.01, N: 95}, {Le: 0.1, N: 105}, {Le: 1, N: 110}}}},
		{ID: "b", Counters: counters{Deliveries: 1e6}}, // first seen: no rate yet
	}
	r := clusterRates(reports, prev, t0.Add(2*time.Second))
	if r.Deliveries != 100 || r.SlowConsumer != 1 || r.RateLimited != 2 || r.Dropped != 1 {
		t.Errorf("rates %+v", r)
	}
	if r.AckMeanMS == nil || *r.AckMeanMS != 20 { // 2 s over 100 acks
		t.Errorf("ack mean %v", r.AckMeanMS)
	}
	if r.AckP99MS == nil || *r.AckP99MS != 1000 { // 95 of 100 within 10 ms, 99 only within 1 s
		t.Errorf("ack p99 %v", r.AckP99MS)
	}
	if r := clusterRates(reports[1:], prev, t0.Add(time.Second)); r.Deliveries != 0 || r.AckMeanMS != nil {
		t.Errorf("a node's first report has no rates: %+v", r)
	}
	// A counter that went down was reset: it grew by what it holds.
	if g := growth(5, 50); g != 5 {
		t.Errorf("growth after a reset = %v", g)
	}
}
