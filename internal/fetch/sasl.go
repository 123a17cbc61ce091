package fetch

import (
	"strings"

	"github.com/emersion/go-sasl"
)

// xoauth2 is Google's and Microsoft's XOAUTH2 SASL mechanism: the initial
// response is "user=U ^A auth=Bearer T ^A ^A". On failure the server sends
// a JSON challenge and expects an empty response before its NO/-ERR.
// (OAUTHBEARER, RFC 7628, is go-sasl's own client.)
type xoauth2 struct{ user, token string }

func (x *xoauth2) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

// Next meets the error challenge: the login failed. It ends the exchange
// with the server's words (the JSON status) rather than answering, since
// go-imap would send an empty answer as "=", which servers refuse as bad
// base64 and say nothing useful.
func (x *xoauth2) Next(challenge []byte) ([]byte, error) {
	return nil, &tokenRefused{words: strings.TrimSpace(string(challenge))}
}

// tokenRefused is a server's refusal of an OAuth2 token in a SASL
// exchange, with its words.
type tokenRefused struct{ words string }

func (e *tokenRefused) Error() string { return "the server refused the token: " + e.words }

// saslClient is the SASL client for a login with an OAuth2 access token.
func saslClient(mech, user, token, host string, port int) sasl.Client {
	if mech == "OAUTHBEARER" {
		return sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: user, Token: token, Host: host, Port: port})
	}
	return &xoauth2{user: user, token: token}
}
