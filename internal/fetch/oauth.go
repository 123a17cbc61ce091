package fetch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/fetchstate"
)

// Provider is an OAuth2 provider's endpoints and the scopes mail needs.
type Provider struct {
	AuthURL, TokenURL, DeviceURL string
	Scopes                       []string
	IMAPHost, POP3Host           string
}

// Providers are the presets for ebb fetch add --oauth2 PROVIDER. Since
// 2022 (Microsoft 365) and 30 Sept 2024 (Google Workspace) these refuse
// passwords for IMAP and POP3.
var Providers = map[string]Provider{
	"google": {
		AuthURL:   "https://accounts.google.com/o/oauth2/auth",
		TokenURL:  "https://oauth2.googleapis.com/token",
		DeviceURL: "https://oauth2.googleapis.com/device/code",
		Scopes:    []string{"https://mail.google.com/"},
		IMAPHost:  "imap.gmail.com", POP3Host: "pop.gmail.com",
	},
	"microsoft": {
		AuthURL:   "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
		TokenURL:  "https://login.microsoftonline.com/common/oauth2/v2.0/token",
		DeviceURL: "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode",
		Scopes: []string{"https://outlook.office.com/IMAP.AccessAsUser.All",
			"https://outlook.office.com/POP.AccessAsUser.All", "offline_access"},
		IMAPHost: "outlook.office365.com", POP3Host: "outlook.office365.com",
	},
}

func oauthConfig(o *fetchstate.OAuth2) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     o.ClientID,
		ClientSecret: o.ClientSecret,
		Scopes:       o.Scopes,
		Endpoint:     oauth2.Endpoint{AuthURL: o.AuthURL, TokenURL: o.TokenURL, DeviceAuthURL: o.DeviceURL},
	}
}

func (f *Fetcher) httpCtx(ctx context.Context) context.Context {
	if f.HTTPContext != nil {
		return f.HTTPContext(ctx)
	}
	return context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Timeout: f.Cfg.Timeout.Duration})
}

// accessToken returns a valid access token for a, refreshing it (and
// storing the new tokens) when it expires within fetch.token_refresh_before.
func (f *Fetcher) accessToken(ctx context.Context, a *fetchstate.FetchAccount) (string, time.Time, error) {
	o := a.OAuth
	if o == nil || (o.RefreshToken == "" && o.AccessToken == "") {
		return "", time.Time{}, fail(CauseToken, "log in with OAuth2", errors.New("the account has no OAuth2 token yet"),
			diag.Because("grant ebb access once", diag.Command("ebb", "fetch", "auth", a.Name)))
	}
	if o.AccessToken != "" && (o.Expiry.IsZero() || o.Expiry.After(f.clock().Add(f.Cfg.TokenRefreshBefore.Duration))) {
		return o.AccessToken, o.Expiry, nil
	}
	if o.RefreshToken == "" {
		return "", time.Time{}, fail(CauseToken, "log in with OAuth2", errors.New("the access token has expired and there is no refresh token"),
			diag.Because("grant ebb access again", diag.Command("ebb", "fetch", "auth", a.Name)))
	}
	tok, err := oauthConfig(o).TokenSource(f.httpCtx(ctx), &oauth2.Token{RefreshToken: o.RefreshToken}).Token()
	if err != nil {
		return "", time.Time{}, tokenFailure(a, err)
	}
	n := *o
	n.AccessToken, n.Expiry = tok.AccessToken, tok.Expiry
	if tok.RefreshToken != "" { // rotated
		n.RefreshToken = tok.RefreshToken
	}
	if err := f.Store.SetFetchOAuth(ctx, a.Name, &n); err != nil {
		// Without storing a rotated refresh token the next refresh
		// would fail: say so now.
		return "", time.Time{}, fail(CauseLocal, "store the refreshed OAuth2 token", err, nil)
	}
	a.OAuth = &n
	f.log().Info("oauth2 access token refreshed", "account", a.Name, "expires", n.Expiry.UTC().Format(time.RFC3339))
	return n.AccessToken, n.Expiry, nil
}

// tokenFailure says why the token endpoint refused: a revoked (or
// expired) refresh token in those words, or the transport's error.
func tokenFailure(a *fetchstate.FetchAccount, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		words := re.ErrorCode
		if re.ErrorDescription != "" {
			words += ": " + re.ErrorDescription
		}
		if words == "" {
			words = fmt.Sprintf("HTTP %d", re.Response.StatusCode)
		}
		if re.ErrorCode == "invalid_grant" {
			return fail(CauseRevoked, "refresh the OAuth2 access token at "+a.OAuth.TokenURL,
				fmt.Errorf("refresh token revoked or expired: consent must be renewed (the token endpoint answered %s)", words),
				diag.Because("the user grants access again", diag.Command("ebb", "fetch", "auth", a.Name)))
		}
		return fail(CauseToken, "refresh the OAuth2 access token at "+a.OAuth.TokenURL,
			fmt.Errorf("the token endpoint refused: %s", words), because("check the client id and secret the account was added with (--client-id, --client-secret)"))
	}
	return fail(CauseToken, "refresh the OAuth2 access token at "+a.OAuth.TokenURL, err,
		because("the token endpoint cannot be reached; it is retried with backoff"))
}

// DeviceAuth runs the device authorization grant (RFC 8628) once: it
// prints where to go and which code to enter, waits for the user's
// consent and returns the settings with the new tokens.
func DeviceAuth(ctx context.Context, o *fetchstate.OAuth2, out io.Writer, httpClient *http.Client) (*fetchstate.OAuth2, error) {
	if httpClient != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, httpClient)
	}
	conf := oauthConfig(o)
	resp, err := conf.DeviceAuth(ctx)
	if err != nil {
		return nil, fmt.Errorf("device authorization at %s: %w", o.DeviceURL, err)
	}
	uri := resp.VerificationURI
	if resp.VerificationURIComplete != "" {
		uri = resp.VerificationURIComplete
	}
	fmt.Fprintf(out, "To let ebb read this mailbox, open %s and enter the code %s (valid until %s).\n",
		uri, resp.UserCode, resp.Expiry.Local().Format("15:04:05"))
	tok, err := conf.DeviceAccessToken(ctx, resp)
	if err != nil {
		return nil, fmt.Errorf("waiting for consent at %s: %w", o.TokenURL, err)
	}
	return withToken(o, tok), nil
}

// LoopbackAuth runs the authorization code grant with PKCE and a loopback
// redirect (RFC 8252 §7.3): the browser comes back to 127.0.0.1 on a port
// of this process.
func LoopbackAuth(ctx context.Context, o *fetchstate.OAuth2, out io.Writer, httpClient *http.Client) (*fetchstate.OAuth2, error) {
	if httpClient != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, httpClient)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer l.Close()
	conf := oauthConfig(o)
	conf.RedirectURL = "http://" + l.Addr().String() + "/"
	var b [16]byte
	rand.Read(b[:])
	state := hex.EncodeToString(b[:])
	verifier := oauth2.GenerateVerifier()
	fmt.Fprintf(out, "To let ebb read this mailbox, open this address in a browser on this machine:\n%s\n",
		conf.AuthCodeURL(state, oauth2.AccessTypeOffline, oauth2.S256ChallengeOption(verifier)))
	codes := make(chan string, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("state") != state {
			http.Error(w, "wrong state", http.StatusBadRequest)
			return
		}
		if e := q.Get("error"); e != "" {
			fmt.Fprintf(w, "ebb: access was not granted (%s). You may close this page.\n", e)
			select {
			case codes <- "":
			default:
			}
			return
		}
		fmt.Fprintln(w, "ebb: access granted. You may close this page.")
		select {
		case codes <- q.Get("code"):
		default:
		}
	})}
	go srv.Serve(l)
	defer srv.Close()
	var code string
	select {
	case code = <-codes:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// The handler sent the code before its page went out: Close alone
	// could cut the browser's connection before it gets the page (it saw
	// an empty reply). Shutdown waits for that reply, a few seconds at most.
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	srv.Shutdown(sctx)
	cancel()
	if code == "" {
		return nil, errors.New("the user did not grant access")
	}
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fmt.Errorf("exchanging the code at %s: %w", o.TokenURL, err)
	}
	return withToken(o, tok), nil
}

func withToken(o *fetchstate.OAuth2, tok *oauth2.Token) *fetchstate.OAuth2 {
	n := *o
	n.AccessToken, n.Expiry = tok.AccessToken, tok.Expiry
	if tok.RefreshToken != "" {
		n.RefreshToken = tok.RefreshToken
	}
	n.Consented = time.Now().UTC()
	return &n
}

// isTokenExpiredWords reports whether a server's refusal says the token
// expired (Microsoft: "AUTHENTICATE failed", Google: "Invalid credentials
// (Failure)"; Dovecot's oauth2 passdb: "Authentication failed").
func isTokenExpiredWords(s string) bool {
	s = strings.ToLower(s)
	return strings.Contains(s, "expired") || strings.Contains(s, "invalid_token")
}
