package acme

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/safeio"
)

// Store is the directory holding the account key and the certificates.
type Store struct{ Dir string }

func (s Store) accountKeyPath() string { return filepath.Join(s.Dir, "account.key") }

// CertDir is the directory of the certificate whose first name is name.
func (s Store) CertDir(name string) string { return filepath.Join(s.Dir, "certs", name) }

// CertFile and KeyFile are the PEM files of the certificate for name.
func (s Store) CertFile(name string) string { return filepath.Join(s.CertDir(name), "cert.pem") }
func (s Store) KeyFile(name string) string  { return filepath.Join(s.CertDir(name), "key.pem") }

// NextKeyFile is the key the next renewal of name will use.
func (s Store) NextKeyFile(name string) string {
	return filepath.Join(s.CertDir(name), "next-key.pem")
}

func (s Store) statePath(name string) string { return filepath.Join(s.CertDir(name), "state.json") }

// mkdir makes dir (0700: it holds private keys) and its parents.
func mkdir(dir string) error { return os.MkdirAll(dir, 0o700) }

// State is what ebb knows about one certificate: kept in state.json so that
// doctor and the next start see the last attempt and the CA's words.
type State struct {
	Names       []string  `json:"names"`
	NotBefore   time.Time `json:"not_before,omitzero"`
	NotAfter    time.Time `json:"not_after,omitzero"`
	Issued      time.Time `json:"issued,omitzero"` // when ebb stored it
	RenewAt     time.Time `json:"renew_at,omitzero"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	// Failures counts failed orders since the last success; the wait
	// before the next try doubles with each.
	Failures    int       `json:"failures,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastError   *Failure  `json:"last_error,omitempty"`
	// Key says which key the last certificate used: "new", "next" (the
	// pre-made key became current) or "kept" (the current key was kept
	// because a published TLSA record names it but not the next one).
	Key    string `json:"key,omitempty"`
	KeyWhy string `json:"key_why,omitempty"`
}

// Failure is a failed order: when, what ebb was doing, the CA's problem
// document when it sent one, and the fix.
type Failure struct {
	Time    time.Time `json:"time"`
	Name    string    `json:"name,omitempty"`    // the name that failed, when one did
	Stage   string    `json:"stage"`             // account, dns, order, challenge, finalize, store
	Message string    `json:"message"`           // the whole error
	Problem *Problem  `json:"problem,omitempty"` // the CA's words (RFC 8555 §6.7)
	Hint    string    `json:"hint,omitempty"`
}

// Problem is an ACME problem document (RFC 8555 §6.7, RFC 7807).
type Problem struct {
	Type        string       `json:"type"`
	Detail      string       `json:"detail,omitempty"`
	Status      int          `json:"status,omitempty"`
	Subproblems []Subproblem `json:"subproblems,omitempty"`
}

// Subproblem is one identifier's problem inside a Problem.
type Subproblem struct {
	Type       string `json:"type"`
	Detail     string `json:"detail,omitempty"`
	Identifier string `json:"identifier,omitempty"`
}

// String is the problem as the CA said it.
func (p *Problem) String() string {
	s := strings.TrimPrefix(p.Type, "urn:ietf:params:acme:error:")
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	for _, sp := range p.Subproblems {
		s += "; " + sp.Identifier + ": " + strings.TrimPrefix(sp.Type, "urn:ietf:params:acme:error:") + ": " + sp.Detail
	}
	return s
}

func (s Store) readState(name string) (*State, error) {
	b, err := os.ReadFile(s.statePath(name))
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", s.statePath(name), err)
	}
	return &st, nil
}

func (s Store) writeState(name string, st *State) error {
	if err := mkdir(s.CertDir(name)); err != nil {
		return err
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return safeio.WriteFile(s.statePath(name), append(b, '\n'), 0o644)
}

// ReadStates reads the state of every certificate in the store, by first
// name (for doctor and the queue page: no CA is asked).
func ReadStates(dir string) (map[string]*State, error) {
	s := Store{Dir: dir}
	ents, err := os.ReadDir(filepath.Join(dir, "certs"))
	if errors.Is(err, os.ErrNotExist) {
		return map[string]*State{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]*State{}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		st, err := s.readState(e.Name())
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return out, err
		}
		out[e.Name()] = st
	}
	return out, nil
}

// newKey makes a private key of keyType (ecdsa: P-256; rsa: 2048 bits).
func newKey(keyType string) (crypto.Signer, error) {
	if keyType == "rsa" {
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// writeKey durably writes key as PKCS #8 PEM, readable by its owner only.
func writeKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := mkdir(filepath.Dir(path)); err != nil {
		return err
	}
	return safeio.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// readKey reads a PEM private key (PKCS #8, or EC/RSA of older tools).
func readKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	var k any
	switch blk.Type {
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: not a signing key", path)
	}
	return signer, nil
}

// loadOrMakeKey reads path, or makes and stores a new key there.
func loadOrMakeKey(path, keyType string) (crypto.Signer, error) {
	k, err := readKey(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return k, err
	}
	if k, err = newKey(keyType); err != nil {
		return nil, err
	}
	return k, writeKey(path, k)
}

// writeCert durably stores the chain (leaf first) as cert.pem.
func writeCert(path string, der [][]byte) error {
	var b []byte
	for _, c := range der {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c})...)
	}
	return safeio.WriteFile(path, b, 0o644)
}

// loadPair reads the stored certificate and key of name.
func (s Store) loadPair(name string) (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(s.CertFile(name), s.KeyFile(name))
	if err != nil {
		return nil, err
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, err
		}
	}
	return &c, nil
}

// sameNames compares two name lists as sets, case-insensitively.
func sameNames(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := normNames(a), normNames(b)
	for i := range x {
		if x[i] != y[i] {
			return false
		}
	}
	return true
}

func normNames(ns []string) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = strings.ToLower(strings.TrimSuffix(n, "."))
	}
	sort.Strings(out)
	return out
}

// PublicKeys are the public keys of the stored certificate of name (its
// leaf) and of the next key a renewal will use (nil when there is none
// yet), for the TLSA records ebb dns check asks for.
func (s Store) PublicKeys(name string) (cur, next crypto.PublicKey, notAfter time.Time, err error) {
	leaf, err := ReadLeaf(s.CertFile(name))
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	if k, err := readKey(s.NextKeyFile(name)); err == nil {
		next = k.Public()
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, time.Time{}, err
	}
	return leaf.PublicKey, next, leaf.NotAfter, nil
}

// ReadLeaf reads the first certificate of a PEM file (the leaf of a chain).
func ReadLeaf(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM certificate in " + path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
