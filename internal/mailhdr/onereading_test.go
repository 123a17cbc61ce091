package mailhdr_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/deliver"
	"github.com/ebbmail/ebb/internal/mailhdr"
	"github.com/ebbmail/ebb/internal/msgauth"
	"github.com/ebbmail/ebb/internal/sendmail"
	"github.com/ebbmail/ebb/internal/sieve"
)

// nxResolver answers every name with NXDOMAIN at once.
type nxResolver struct{}

func nx(name string) error { return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true} }
func (nxResolver) LookupTXT(_ context.Context, n string) ([]string, error) {
	return nil, nx(n)
}
func (nxResolver) LookupMX(_ context.Context, n string) ([]*net.MX, error) { return nil, nx(n) }
func (nxResolver) LookupNetIP(_ context.Context, _, n string) ([]netip.Addr, error) {
	return nil, nx(n)
}
func (nxResolver) LookupAddr(_ context.Context, n string) ([]string, error) { return nil, nx(n) }

// keyed are the domains FuzzOneReading's signer has keys for.
var keyed = []string{"bank.example", "friend.example"}

// FuzzOneReading: the same bytes give the same From: to every part of
// ebb (principle 3; issue 22). For any message, stored by the queue
// (Normalise, which keeps its From: fields):
//   - DMARC (msgauth's checks) evaluates exactly the domains mailhdr's
//     Authors names, or refuses when Authors says nothing can be judged;
//   - the DKIM signer signs for exactly the keyed domains among them (or
//     their organizational domains);
//   - Sieve's address test finds bank.example in From: exactly when the
//     From: names it (when it can be read strictly);
//   - the copy delivery stores has the same From: fields, and mailhdr
//     reads the stored copy's header to the same place every reader does;
//   - sendmail reads the same first From: value.
func FuzzOneReading(f *testing.F) {
	for _, s := range []string{
		"From: CEO <ceo@bank.example>\r\nSubject: x\r\n\r\nbody\r\n",
		"From: =?windows-1252?q?Bank_Gr=FC=DFe?= <ceo@bank.example>\r\n\r\n",
		"From: <ceo@bank.example >\r\n\r\n",
		"From: a@friend.example, ceo@bank.example\r\n\r\n",
		"From: a@friend.example\r\nFrom: ceo@bank.example\r\n\r\n",
		"From : ceo@bank.example\r\n\r\n",
		"X-A: 1\r\nno field\r\nFrom: ceo@bank.example\r\n\r\n",
		"From x Mon\nFrom: ceo@bank.example\n\nbody",
		"Subject: x\rFrom: ceo@bank.example\r\nFrom: a@friend.example\r\n\r\n",
		"From: ceo@bank.example <x@friend.example>\r\n\r\n",
		"From: =?utf-8?q?ceo=40bank.example?=\r\n\r\n",
		"From: Bank: ceo@bank.example;\r\n\r\n",
		"From: <@relay.example:ceo@bank.example>\r\n\r\n",
		"From: ceo (x) @ (y) bank . example\r\n\r\n",
		"Subject: no from\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	keys := filepath.Join(dir, "keys")
	for _, d := range keyed {
		sg, err := msgauth.GenerateKey("ed25519")
		if err != nil {
			f.Fatal(err)
		}
		if _, err := msgauth.WriteKey(keys, d, "s1", sg, false, nil); err != nil {
			f.Fatal(err)
		}
	}
	signer := &msgauth.Signer{KeyDir: keys}
	checker := &msgauth.Checker{Resolver: nxResolver{}}
	script, err := sieve.Compile("from", []byte(`if address :domain :is "from" "bank.example" { discard; }`), sieve.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		if len(msg) > 1<<16 {
			return
		}
		// The spool file, as the queue stores the message.
		spool, err := io.ReadAll(mailhdr.Normalise(bufio.NewReader(bytes.NewReader(msg))))
		if err != nil {
			t.Fatal(err)
		}
		if orig, stored := fromValues(msg), fromValues(spool); !slices.Equal(orig, stored) {
			t.Fatalf("%q: From: fields %q, in the spool %q", msg, orig, stored)
		}
		path := filepath.Join(t.TempDir(), "m")
		if err := os.WriteFile(path, spool, 0o600); err != nil {
			t.Fatal(err)
		}
		authors, err := mailhdr.ReadAuthorsFrom(bytes.NewReader(spool))
		if err != nil {
			t.Fatal(err)
		}

		// DMARC.
		res := checker.Check(context.Background(), msgauth.Input{IP: net.ParseIP("192.0.2.1"), Helo: "h.example", MailFrom: "x@elsewhere.example", Path: path})
		if authors.Incomplete != "" {
			if res.DMARC.Unjudged == "" || res.DMARC.Disposition != msgauth.Reject {
				t.Fatalf("%q: Authors cannot judge (%s) but DMARC gives %+v", msg, authors.Incomplete, res.DMARC)
			}
		} else if !slices.Equal(res.DMARC.Domains, authors.Domains) {
			t.Fatalf("%q: DMARC evaluated %q, Authors names %q", msg, res.DMARC.Domains, authors.Domains)
		}

		// DKIM signing.
		sig, err := signer.Sign(bytes.NewReader(spool))
		if err != nil {
			t.Fatal(err)
		}
		var signed, want []string
		for _, d := range strings.Split(strings.ReplaceAll(sig, "\r\n ", ""), " d=")[1:] {
			signed = append(signed, strings.SplitN(d, ";", 2)[0])
		}
		for _, d := range authors.Domains {
			if !slices.Contains(keyed, d) {
				d = msgauth.OrgDomain(d) // a subdomain: its organization's keys
			}
			if slices.Contains(keyed, d) && !slices.Contains(want, d) {
				want = append(want, d)
			}
		}
		if !slices.Equal(signed, want) {
			t.Fatalf("%q: signed for %q, want %q (Authors %q)", msg, signed, want, authors.Domains)
		}

		// Sieve, on a From: read strictly.
		m, err := sieve.NewMessage(bytes.NewReader(spool), int64(len(spool)))
		if err != nil {
			t.Fatal(err)
		}
		r, err := script.Run(context.Background(), m, sieve.Envelope{}, sieve.Runtime{})
		if err != nil {
			t.Fatal(err)
		}
		if authors.Unreadable == "" && authors.Incomplete == "" && r.ImplicitKeep == slices.Contains(authors.Domains, "bank.example") {
			t.Fatalf("%q: Sieve's address test on From: %v, Authors %q", msg, !r.ImplicitKeep, authors.Domains)
		}

		// The stored copy.
		var stored bytes.Buffer
		_, off, err := (&deliver.Agent{}).View(&stored, path, deliver.Envelope{OmitReturnPath: true, StripAuthResults: "mx.example", RenameVerdicts: true})
		if err != nil {
			t.Fatal(err)
		}
		orig := fromValues(spool)
		copied := fromValues(stored.Bytes()[off:])
		if !slices.Equal(orig, copied) {
			t.Fatalf("%q: From: fields %q, in the stored copy %q", msg, orig, copied)
		}
		sc := mailhdr.NewScanner(bufio.NewReader(bytes.NewReader(stored.Bytes())))
		for sc.Scan() {
		}
		if sc.EndedAtText() {
			t.Fatalf("%q: the stored copy %q has a header that ends at text", msg, stored.Bytes())
		}

		// sendmail, reading what a program gives it.
		if h, err := sendmail.ReadHeader(bufio.NewReader(bytes.NewReader(msg))); err == nil {
			v, _ := h.Get("From")
			v = strings.TrimRight(v, "\r")
			first := ""
			if len(orig) > 0 {
				first = orig[0]
			}
			if v != first {
				t.Fatalf("%q: sendmail reads From: %q, mailhdr %q", msg, v, first)
			}
		}
	})
}

// fromValues are the values of the From: fields of the header of msg.
func fromValues(msg []byte) []string {
	var out []string
	s := mailhdr.NewScanner(bufio.NewReader(bytes.NewReader(msg)))
	for s.Scan() {
		if f := s.Field(); f.Is("From") {
			// A Maildir copy has LF line ends: a bare CR before a CRLF
			// ends up as the CR of the line end.
			out = append(out, strings.TrimRight(f.Value(), "\r"))
		}
	}
	return out
}
