package fetch

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/fetchstate"
)

// The loopback flow (RFC 8252 §7.3) with PKCE (RFC 7636): the browser
// comes back to 127.0.0.1 with the code, which is exchanged together with
// the verifier that matches the challenge sent.
func TestLoopbackAuthExchangesTheCodeWithPKCE(t *testing.T) {
	var challenge string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		sum := sha256.Sum256([]byte(r.Form.Get("code_verifier")))
		if r.Form.Get("code") != "the-code" || base64.RawURLEncoding.EncodeToString(sum[:]) != challenge {
			w.WriteHeader(400)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant"})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "refresh_token": "rt", "expires_in": 3600, "token_type": "Bearer"})
	}))
	defer srv.Close()
	o := &fetchstate.OAuth2{ClientID: "cid", AuthURL: "http://provider.invalid/auth", TokenURL: srv.URL}
	pr, pw := io.Pipe()
	done := make(chan *fetchstate.OAuth2, 1)
	go func() {
		n, err := LoopbackAuth(context.Background(), o, pw, srv.Client())
		if err != nil {
			t.Error(err)
		}
		done <- n
	}()
	sc := bufio.NewScanner(pr)
	var authURL *url.URL
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "http://provider.invalid/auth") {
			authURL, _ = url.Parse(sc.Text())
			break
		}
	}
	go io.Copy(io.Discard, pr)
	q := authURL.Query()
	challenge = q.Get("code_challenge")
	if q.Get("code_challenge_method") != "S256" || challenge == "" || !strings.HasPrefix(q.Get("redirect_uri"), "http://127.0.0.1:") {
		t.Fatalf("authorization URL %s", authURL)
	}
	resp, err := http.Get(q.Get("redirect_uri") + "?code=the-code&state=" + url.QueryEscape(q.Get("state")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case n := <-done:
		if n == nil || n.RefreshToken != "rt" || n.AccessToken != "at" || n.Consented.IsZero() {
			t.Fatalf("tokens %+v", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("LoopbackAuth did not return")
	}
}

type memStore struct {
	Store
	saved *fetchstate.OAuth2
}

func (m *memStore) SetFetchOAuth(ctx context.Context, name string, o *fetchstate.OAuth2) error {
	m.saved = o
	return nil
}

// A token is refreshed before it expires (and the new one stored); a
// refresh token the provider revoked is said in those words.
func TestAccessTokenRefreshAndRevocation(t *testing.T) {
	revoked := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if revoked {
			w.WriteHeader(400)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"access_token": "fresh", "expires_in": 3600, "token_type": "Bearer"})
	}))
	defer srv.Close()
	st := &memStore{}
	f := &Fetcher{Cfg: config.Fetch{TokenRefreshBefore: config.D(5 * time.Minute), Timeout: config.D(5 * time.Second)}, Store: st}
	a := &fetchstate.FetchAccount{Name: "g", OAuth: &fetchstate.OAuth2{TokenURL: srv.URL, ClientID: "c", RefreshToken: "rt",
		AccessToken: "old", Expiry: time.Now().Add(2 * time.Minute)}}
	tok, _, err := f.accessToken(context.Background(), a)
	if err != nil || tok != "fresh" || st.saved == nil || st.saved.AccessToken != "fresh" || st.saved.RefreshToken != "rt" {
		t.Fatalf("refresh 2 min before expiry: %q, %v, stored %+v", tok, err, st.saved)
	}
	if tok, _, _ := f.accessToken(context.Background(), a); tok != "fresh" {
		t.Fatalf("a valid token was not reused: %q", tok)
	}
	revoked = true
	a.OAuth.Expiry = time.Now()
	_, _, err = f.accessToken(context.Background(), a)
	de := asDiag(err, a)
	if de.Op != CauseRevoked || !strings.Contains(de.Sentence(), "refresh token revoked") || !strings.Contains(de.Sentence(), "ebb fetch auth g") {
		t.Fatalf("revoked: %s (%s)", de.Sentence(), de.Op)
	}
}
