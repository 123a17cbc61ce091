package msgauth

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ebbmail/ebb/internal/mailuser"
	"github.com/ebbmail/ebb/internal/safeio"
)

// Key files live in the key directory as <domain>/<selector>.pem (PKCS #8,
// mode 0600). Every .pem file of a domain signs; a key generated with
// --pending is written as <selector>.pem.pending and signs only once it is
// renamed to .pem, after its TXT record is published (rotation,
// docs/dkim.md).
const (
	keySuffix     = ".pem"
	pendingSuffix = ".pem.pending"
)

// Key is one DKIM key of a hosted domain.
type Key struct {
	Domain    string
	Selector  string
	Path      string
	Algorithm string // "ed25519" or "rsa"
	Pending   bool
	Signer    crypto.Signer
}

// RecordName is where the key's TXT record is published (RFC 6376 §3.6.2.1).
func (k *Key) RecordName() string { return k.Selector + "._domainkey." + k.Domain }

// PublicData is the p= value: the raw 32 bytes for Ed25519 (RFC 8463
// §4.2), the SubjectPublicKeyInfo for RSA (RFC 6376 §3.6.1), in base64.
func (k *Key) PublicData() string {
	switch pub := k.Signer.Public().(type) {
	case ed25519.PublicKey:
		return base64.StdEncoding.EncodeToString(pub)
	default:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return ""
		}
		return base64.StdEncoding.EncodeToString(der)
	}
}

// TXT is the record's text, as one string.
func (k *Key) TXT() string {
	return fmt.Sprintf("v=DKIM1; k=%s; p=%s", k.Algorithm, k.PublicData())
}

// ZoneLine is the record as a zone file line, its text cut into strings
// of at most 255 bytes (RFC 1035 §3.3.14; an RSA-2048 key is longer).
func (k *Key) ZoneLine() string {
	txt := k.TXT()
	var parts []string
	for len(txt) > 255 {
		parts = append(parts, txt[:255])
		txt = txt[255:]
	}
	parts = append(parts, txt)
	return fmt.Sprintf("%s. 3600 IN TXT \"%s\"", k.RecordName(), strings.Join(parts, "\" \""))
}

// MatchTXT compares the published records (as a resolver returns them,
// the strings of one record joined) with the key: "" when one matches,
// else why not.
func (k *Key) MatchTXT(txts []string) string {
	if len(txts) == 0 {
		return "no TXT record is published at " + k.RecordName()
	}
	if len(txts) > 1 {
		// RFC 6376 §3.6.2.2: several records give undefined results;
		// verifiers (go-msgauth) fail them.
		return fmt.Sprintf("%d TXT records are published at %s; there must be one", len(txts), k.RecordName())
	}
	tags := parseTags(txts[0])
	if v, ok := tags["v"]; ok && v != "DKIM1" {
		return fmt.Sprintf("the record at %s has v=%s, not DKIM1", k.RecordName(), v)
	}
	alg := tags["k"]
	if alg == "" {
		alg = "rsa"
	}
	if alg != k.Algorithm {
		return fmt.Sprintf("the record at %s is for k=%s, the key is %s", k.RecordName(), alg, k.Algorithm)
	}
	if strings.ReplaceAll(tags["p"], " ", "") != k.PublicData() {
		if tags["p"] == "" {
			return "the record at " + k.RecordName() + " has an empty p= (the key is revoked)"
		}
		return "the record at " + k.RecordName() + " holds another public key (p= differs)"
	}
	return ""
}

// parseTags reads a tag-list (RFC 6376 §3.2): "a=b; c=d", white space
// (also folding) around tags and values removed.
func parseTags(s string) map[string]string {
	out := map[string]string{}
	for _, part := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if _, dup := out[k]; dup || k == "" {
			continue
		}
		out[k] = strings.Join(strings.Fields(v), "")
	}
	return out
}

// GenerateKey makes a new private key: "ed25519" (RFC 8463) or "rsa"
// (2048 bits, RFC 8301 §3.2's floor of 1024 doubled, as is usual now).
func GenerateKey(algorithm string) (crypto.Signer, error) {
	switch algorithm {
	case "ed25519":
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	case "rsa":
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return nil, fmt.Errorf("unknown DKIM key algorithm %q: use ed25519 or rsa", algorithm)
}

// ValidSelector checks a selector (RFC 6376 §3.1: sub-domain syntax, with
// "." allowed between labels).
func ValidSelector(s string) error {
	if s == "" || len(s) > 63 {
		return fmt.Errorf("selector %q: must be 1 to 63 characters", s)
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("selector %q: labels must not be empty or start or end with '-'", s)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("selector %q: only letters, digits, '-' and '.' are allowed", s)
			}
		}
	}
	return nil
}

// KeyPath is where the key of domain and selector is kept.
func KeyPath(dir, domain, selector string, pending bool) string {
	suffix := keySuffix
	if pending {
		suffix = pendingSuffix
	}
	return filepath.Join(dir, strings.ToLower(domain), selector+suffix)
}

// WriteKey stores key durably at KeyPath (mode 0600, directories 0700),
// given to owner (the mail user when root runs keygen; nil: whoever runs
// this). It refuses to overwrite a key.
func WriteKey(dir, domain, selector string, key crypto.Signer, pending bool, owner *mailuser.User) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	path := KeyPath(dir, domain, selector, pending)
	for _, p := range []string{KeyPath(dir, domain, selector, false), KeyPath(dir, domain, selector, true)} {
		if _, err := os.Lstat(p); err == nil {
			return p, fmt.Errorf("a key for selector %s already exists: %w", selector, os.ErrExist)
		}
	}
	if d, err := owner.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return d, err
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := safeio.WriteFile(path, data, 0o600); err != nil {
		return path, err
	}
	if err := owner.Give(path); err != nil {
		return path, err
	}
	return path, nil
}

// LoadKey reads one key file.
func LoadKey(path string) (*Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	var parsed any
	switch block.Type {
	case "PRIVATE KEY":
		parsed, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY": // opendkim-genkey's format
		parsed, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%s: a PEM block of type %q, not a private key", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	k := &Key{Path: path, Domain: filepath.Base(filepath.Dir(path))}
	base := filepath.Base(path)
	switch {
	case strings.HasSuffix(base, pendingSuffix):
		k.Selector, k.Pending = strings.TrimSuffix(base, pendingSuffix), true
	default:
		k.Selector = strings.TrimSuffix(base, keySuffix)
	}
	switch key := parsed.(type) {
	case ed25519.PrivateKey:
		k.Signer, k.Algorithm = key, "ed25519"
	case *rsa.PrivateKey:
		k.Signer, k.Algorithm = key, "rsa"
	default:
		return nil, fmt.Errorf("%s: a %T key; DKIM signs with Ed25519 or RSA", path, parsed)
	}
	return k, nil
}

// LoadKeys reads the keys of domain, the pending ones too, sorted by
// selector. A domain without a directory has no keys (nil, nil).
func LoadKeys(dir, domain string) ([]*Key, error) {
	d := filepath.Join(dir, strings.ToLower(domain))
	ents, err := os.ReadDir(d)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var keys []*Key
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || !(strings.HasSuffix(n, keySuffix) || strings.HasSuffix(n, pendingSuffix)) {
			continue
		}
		k, err := LoadKey(filepath.Join(d, n))
		if err != nil {
			return keys, err
		}
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Selector < keys[j].Selector })
	return keys, nil
}

// Domains lists the domains that have a key directory.
func Domains(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// TXTResolver looks up TXT records (a *net.Resolver is one).
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// CheckDNS looks the key's record up and compares it: "" when it matches,
// else why not. err is a lookup that got no answer (SERVFAIL, timeout).
func (k *Key) CheckDNS(ctx context.Context, r TXTResolver) (why string, err error) {
	txts, err := r.LookupTXT(ctx, k.RecordName())
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			return k.MatchTXT(nil), nil
		}
		return "", err
	}
	return k.MatchTXT(txts), nil
}
