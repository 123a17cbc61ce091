package harness

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TokenServer stands in for an OAuth2 provider on loopback: the device
// authorization grant (RFC 8628), refresh (RFC 6749 §6), token
// introspection (RFC 7662) for Dovecot's oauth2 passdb, and revocation.
// Access tokens live Lifetime; an expired one introspects as inactive, so
// Dovecot refuses it as a provider would.
type TokenServer struct {
	URL      string
	Lifetime time.Duration

	mu        sync.Mutex
	access    map[string]tokenGrant // access token → grant
	refresh   map[string]string     // refresh token → user
	revoked   map[string]bool       // refresh tokens
	devices   map[string]*deviceReq // device code → request
	Refreshes int                   // refresh grants answered with a token
}

type tokenGrant struct {
	user    string
	expires time.Time
}

type deviceReq struct {
	user     string // set when approved
	userCode string
}

// StartTokenServer starts it; it stops when the test ends.
func StartTokenServer(t testing.TB, lifetime time.Duration) *TokenServer {
	ts := &TokenServer{Lifetime: lifetime, access: map[string]tokenGrant{}, refresh: map[string]string{},
		revoked: map[string]bool{}, devices: map[string]*deviceReq{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/device", ts.device)
	mux.HandleFunc("/token", ts.token)
	mux.HandleFunc("/introspect", ts.introspect)
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	ts.URL = s.URL
	return ts
}

func randHex() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (ts *TokenServer) device(w http.ResponseWriter, r *http.Request) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	code, user := randHex(), randHex()[:8]
	ts.devices[code] = &deviceReq{userCode: user}
	writeJSON(w, 200, map[string]any{"device_code": code, "user_code": user,
		"verification_uri": ts.URL + "/verify", "expires_in": 300, "interval": 1})
}

// Approve grants the device request with userCode for user (the person
// entering the code at the provider).
func (ts *TokenServer) Approve(userCode, user string) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, d := range ts.devices {
		if d.userCode == userCode {
			d.user = user
			return true
		}
	}
	return false
}

// RevokeAll revokes every refresh token of user.
func (ts *TokenServer) RevokeAll(user string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for rt, u := range ts.refresh {
		if u == user {
			ts.revoked[rt] = true
		}
	}
}

// SetLifetime changes how long the access tokens issued from now on live.
func (ts *TokenServer) SetLifetime(d time.Duration) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.Lifetime = d
}

// ExpireAccess makes every access token issued so far inactive at once,
// as a provider that cuts tokens before their stated expiry.
func (ts *TokenServer) ExpireAccess() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for k := range ts.access {
		ts.access[k] = tokenGrant{user: ts.access[k].user, expires: time.Now().Add(-time.Second)}
	}
}

// RefreshCount is how many refresh grants got a token.
func (ts *TokenServer) RefreshCount() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.Refreshes
}

func (ts *TokenServer) issue(w http.ResponseWriter, user string, refresh string) {
	at := randHex()
	ts.access[at] = tokenGrant{user: user, expires: time.Now().Add(ts.Lifetime)}
	if refresh == "" {
		refresh = randHex()
		ts.refresh[refresh] = user
	}
	writeJSON(w, 200, map[string]any{"access_token": at, "token_type": "Bearer",
		"expires_in": int(ts.Lifetime / time.Second), "refresh_token": refresh})
}

func (ts *TokenServer) token(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	switch r.Form.Get("grant_type") {
	case "urn:ietf:params:oauth:grant-type:device_code":
		d := ts.devices[r.Form.Get("device_code")]
		switch {
		case d == nil:
			writeJSON(w, 400, map[string]string{"error": "invalid_grant"})
		case d.user == "":
			writeJSON(w, 400, map[string]string{"error": "authorization_pending"})
		default:
			delete(ts.devices, r.Form.Get("device_code"))
			ts.issue(w, d.user, "")
		}
	case "refresh_token":
		rt := r.Form.Get("refresh_token")
		user, ok := ts.refresh[rt]
		if !ok || ts.revoked[rt] {
			writeJSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
			return
		}
		ts.Refreshes++
		ts.issue(w, user, rt)
	default:
		writeJSON(w, 400, map[string]string{"error": "unsupported_grant_type"})
	}
}

func (ts *TokenServer) introspect(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	g, ok := ts.access[r.Form.Get("token")]
	if !ok || time.Now().After(g.expires) {
		writeJSON(w, 200, map[string]any{"active": false})
		return
	}
	writeJSON(w, 200, map[string]any{"active": true, "username": g.user})
}
