package msgauth

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/ebbmail/ebb/internal/mailhdr"
)

// DefaultSignedHeaders is the h= list: what a reader sees and trusts (RFC
// 6376 §5.4.1), with From twice so that a second From added on the way
// breaks the signature (oversigning, RFC 6376 §8.15).
var DefaultSignedHeaders = []string{
	"From", "From", "Reply-To", "To", "Cc", "Subject", "Date", "Message-ID",
	"In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", "Content-Disposition",
}

// Signer signs messages with the keys of their From: domain.
type Signer struct {
	// KeyDir holds <domain>/<selector>.pem (keys.go).
	KeyDir string
	// Headers is the h= list; nil: DefaultSignedHeaders.
	Headers []string

	mu    sync.Mutex
	cache map[string]cachedKeys
}

type cachedKeys struct {
	mtime time.Time
	keys  []*Key
}

// Sign reads the message from r (ebb's prefix and the data, as it will be
// sent) and returns the DKIM-Signature fields to write above it, one per
// key of each From: domain (Ed25519 and RSA both, when both exist),
// relaxed/relaxed. The From: domains are the ones DMARC evaluates
// (mailhdr.Authors: every domain a From: names, however its display name
// is encoded, and those found in a From: that cannot be read strictly),
// so that every domain a receiver may align with is signed for (a
// subdomain without keys by its organizational domain's). The body
// streams through the hash; only the header is held. A message whose
// From: domains have no key gives "" and no error, as does a message
// without a usable From: (SignWhy says which).
func (s *Signer) Sign(r io.Reader) (string, error) {
	sig, _, err := s.SignWhy(r)
	return sig, err
}

// Unsigned says why Sign signed nothing.
type Unsigned struct {
	// Reason: "no key" (no From: domain, nor its organizational domain,
	// has a signing key in KeyDir: Domains lists them) or "no author"
	// (the message names no From: domain).
	Reason  string
	Domains []string
	KeyDir  string
}

func (u *Unsigned) String() string {
	if u.Reason == "no author" {
		return "no From: domain to sign for"
	}
	return "no DKIM key for " + strings.Join(u.Domains, ", ") + " (nor an organizational domain of it) in " + u.KeyDir
}

// SignWhy is Sign saying why it signed nothing (nil when it signed, or
// failed).
func (s *Signer) SignWhy(r io.Reader) (string, *Unsigned, error) {
	rec := &recorder{r: r, limit: MaxHeaderBytes + 128<<10}
	authors, err := mailhdr.ReadAuthorsFrom(rec)
	if err != nil {
		return "", nil, fmt.Errorf("read the header to sign: %w", err)
	}
	var keys []*Key
	seen := map[string]bool{}
	for _, d := range authors.Domains {
		ks, err := s.keys(d)
		if err == nil && len(ks) == 0 {
			// A subdomain without keys of its own (mail from
			// news.example.org) is signed by its organizational domain:
			// relaxed alignment (RFC 7489 §3.1.1, the default) takes it.
			if org := OrgDomain(d); org != d {
				ks, err = s.keys(org)
			}
		}
		if err != nil {
			return "", nil, err
		}
		for _, k := range ks {
			if !seen[k.Path] {
				seen[k.Path] = true
				keys = append(keys, k)
			}
		}
	}
	if len(keys) == 0 {
		if len(authors.Domains) == 0 {
			return "", &Unsigned{Reason: "no author", KeyDir: s.KeyDir}, nil
		}
		return "", &Unsigned{Reason: "no key", Domains: authors.Domains, KeyDir: s.KeyDir}, nil
	}
	headers := s.Headers
	if headers == nil {
		headers = DefaultSignedHeaders
	}
	var signers []*dkim.Signer
	var ws []io.Writer
	for _, k := range keys {
		sg, err := dkim.NewSigner(&dkim.SignOptions{
			Domain: k.Domain, Selector: k.Selector, Signer: k.Signer,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed,
			BodyCanonicalization:   dkim.CanonicalizationRelaxed,
			HeaderKeys:             headers,
		})
		if err != nil {
			for _, o := range signers {
				o.Close()
			}
			return "", nil, fmt.Errorf("sign with %s: %w", k.Path, err)
		}
		signers = append(signers, sg)
		ws = append(ws, sg)
	}
	rec.stop()
	_, cerr := io.Copy(io.MultiWriter(ws...), io.MultiReader(bytes.NewReader(rec.buf.Bytes()), r))
	var out strings.Builder
	for i, sg := range signers {
		if err := sg.Close(); err != nil && cerr == nil {
			cerr = fmt.Errorf("sign with %s: %w", keys[i].Path, err)
		}
		if cerr == nil {
			out.WriteString(sg.Signature())
		}
	}
	if cerr != nil {
		return "", nil, cerr
	}
	return out.String(), nil, nil
}

// keys returns the signing (not pending) keys of domain, reread when its
// directory changed.
func (s *Signer) keys(domain string) ([]*Key, error) {
	dir := filepath.Join(s.KeyDir, domain)
	st, err := os.Stat(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.cache[domain]; ok && c.mtime.Equal(st.ModTime()) {
		return c.keys, nil
	}
	all, err := LoadKeys(s.KeyDir, domain)
	if err != nil {
		return nil, err
	}
	var keys []*Key
	for _, k := range all {
		if !k.Pending {
			keys = append(keys, k)
		}
	}
	if s.cache == nil {
		s.cache = map[string]cachedKeys{}
	}
	s.cache[domain] = cachedKeys{mtime: st.ModTime(), keys: keys}
	return keys, nil
}

// recorder keeps what is read through it until stop, so that the header,
// read once to find the From domain, can be given again to the signers.
type recorder struct {
	r       io.Reader
	buf     bytes.Buffer
	limit   int
	stopped bool
}

func (c *recorder) Read(p []byte) (int, error) {
	if c.stopped {
		return 0, io.EOF
	}
	n, err := c.r.Read(p)
	c.buf.Write(p[:n])
	if c.buf.Len() > c.limit {
		return n, errHeaderTooLarge
	}
	return n, err
}

func (c *recorder) stop() { c.stopped = true }
