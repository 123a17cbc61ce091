package msgauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/mailuser"
)

// What ebb dkim keygen and ebb dkim list (and doctor's dkim.keys) do with
// the keys of the hosted domains (docs/dkim.md).

// badArgument is a keygen argument that cannot be used: the command line's
// fault (exit 64).
type badArgument struct{ error }

func (badArgument) ExitCode() int { return diag.ExUsage }

// Keygen makes a DKIM key for domain with algorithm ("ed25519" or "rsa")
// and writes it below dir (setting: the one that chose dir) for owner. An
// empty selector is the algorithm and now's date (ed25519-20261201). A
// domain, selector or algorithm that cannot be used is an error with exit
// code 64; a key that cannot be written a *diag.Error (a selector that
// exists: permanent, exit 73, since a published selector is never reused).
func Keygen(dir string, setting *diag.Setting, domain, selector, algorithm string, pending bool, owner *mailuser.User, now time.Time) (*Key, error) {
	d := strings.TrimSuffix(strings.ToLower(domain), ".")
	if d == "" || strings.ContainsAny(d, "/ \t@") {
		return nil, badArgument{fmt.Errorf("%q is not a domain name", domain)}
	}
	if selector == "" {
		selector = fmt.Sprintf("%s-%s", algorithm, now.UTC().Format("20060102"))
	}
	if err := ValidSelector(selector); err != nil {
		return nil, badArgument{err}
	}
	signer, err := GenerateKey(algorithm)
	if err != nil {
		return nil, badArgument{err}
	}
	path, err := WriteKey(dir, d, selector, signer, pending, owner)
	if err != nil {
		e := diag.PathError("", "create", "write the DKIM key", path, diag.UnwrapPath(err), setting)
		if errors.Is(err, fs.ErrExist) {
			e.Class, e.Exit = diag.Permanent, diag.ExCantCreat
			e.Hint = "choose another --selector; a selector that was published is never reused"
		}
		return nil, e
	}
	return LoadKey(path)
}

// WriteKeygen says what ebb dkim keygen made of k below dir: where the
// key is and whose (owner's, or whoever runs the command when nil),
// whether it signs from now on or, pending, once renamed, and the TXT
// record to publish.
func WriteKeygen(w io.Writer, k *Key, dir string, owner *mailuser.User, pending bool) {
	who := diag.Self().String()
	if owner != nil {
		who = owner.Name
	}
	state := "it signs mail from " + k.Domain + " from now on"
	if pending {
		state = "pending: it signs once renamed to " + KeyPath(dir, k.Domain, k.Selector, false)
	}
	fmt.Fprintf(w, "DKIM key %s for %s (%s) written to %s (mode 0600, owner %s); %s.\n\n",
		k.Selector, k.Domain, k.Algorithm, k.Path, who, state)
	fmt.Fprintf(w, "Publish this TXT record in the zone of %s:\n\n%s\n\nThen check it with: ebb dkim list\n", k.Domain, k.ZoneLine())
}

// KeygenFor is ebb dkim keygen: Keygen in cfg's key directory and
// WriteKeygen on w. Run as root, the key is given to the mail user
// (server.user), who reads it in the daemon; otherwise it belongs to
// whoever runs this.
func KeygenFor(w io.Writer, cfg *config.Config, domain, selector, algorithm string, pending bool, now time.Time) error {
	owner, err := mailuser.ForRoot(cfg)
	if err != nil {
		return err
	}
	dir := cfg.DKIMKeyDir()
	k, err := Keygen(dir, cfg.DKIMKeyDirSetting(), domain, selector, algorithm, pending, owner, now)
	if err != nil {
		return err
	}
	WriteKeygen(w, k, dir, owner, pending)
	return nil
}

// ListKeys is what ebb dkim list shows: CheckKeys on cfg's key directory
// with cfg's DNS timeout. A domain whose keys cannot be read is the error.
func ListKeys(ctx context.Context, cfg *config.Config, r TXTResolver) ([]KeyCheck, error) {
	cs, err := CheckKeys(ctx, cfg.DKIMKeyDir(), cfg.DKIMKeyDirSetting(), r, cfg.DNS.Timeout.Duration)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if c.LoadErr != nil {
			return nil, c.LoadErr
		}
	}
	return cs, nil
}

// KeyCheck is one key of dir and what DNS says of it, or a domain whose
// keys could not be read.
type KeyCheck struct {
	Domain string
	// LoadErr is why the domain's keys could not be read: a file that
	// cannot be read, or one that is no key (with the fix); Key is then
	// nil.
	LoadErr *diag.Error
	Key     *Key
	// Why says how the published record differs ("" when it matches).
	Why string
	// DNSErr is the lookup's failure (then Why is "").
	DNSErr error
}

// CheckKeys reads every key below dir (chosen by setting) and asks r for
// its record, each lookup within timeout: a KeyCheck per key, in order of
// domain and selector, and one per domain whose keys cannot be read. The
// error is dir's own, a *diag.Error.
func CheckKeys(ctx context.Context, dir string, setting *diag.Setting, r TXTResolver, timeout time.Duration) ([]KeyCheck, error) {
	domains, err := Domains(dir)
	if err != nil {
		return nil, diag.PathError("", "open", "read the DKIM key directory", dir, diag.UnwrapPath(err), setting)
	}
	var out []KeyCheck
	for _, d := range domains {
		keys, err := LoadKeys(dir, d)
		var pe *fs.PathError
		switch {
		case errors.As(err, &pe):
			out = append(out, KeyCheck{Domain: d, LoadErr: diag.PathError("", "read", "read the DKIM key", pe.Path, pe.Err, setting)})
			continue
		case err != nil:
			e := diag.New("parse", "read the DKIM keys of "+d+" in", dir, err)
			e.Setting = setting
			e.Hint = "replace the file with one ebb dkim keygen writes (PKCS #8 PEM, Ed25519 or RSA)"
			out = append(out, KeyCheck{Domain: d, LoadErr: e})
			continue
		}
		for _, k := range keys {
			lctx, cancel := context.WithTimeout(ctx, timeout)
			why, err := k.CheckDNS(lctx, r)
			cancel()
			out = append(out, KeyCheck{Domain: d, Key: k, Why: why, DNSErr: err})
		}
	}
	return out, nil
}

// State is "signing", or "pending" for a key that signs only once it is
// renamed to .pem.
func (k *Key) State() string {
	if k.Pending {
		return "pending"
	}
	return "signing"
}

// DNS is what DNS says of the key: "matches", why not, or "no answer: ...".
func (c KeyCheck) DNS() string {
	switch {
	case c.DNSErr != nil:
		return "no answer: " + c.DNSErr.Error()
	case c.Why != "":
		return c.Why
	}
	return "matches"
}

// KeyStatus is a line of ebb dkim list --json.
type KeyStatus struct {
	Domain    string `json:"domain"`
	Selector  string `json:"selector"`
	Algorithm string `json:"algorithm"`
	State     string `json:"state"` // signing or pending
	Path      string `json:"path"`
	DNS       string `json:"dns"` // "matches", or why not
	Record    string `json:"record"`
}

// Statuses is the list of ebb dkim list --json (never nil), without the
// domains whose keys could not be read.
func Statuses(cs []KeyCheck) []KeyStatus {
	out := []KeyStatus{}
	for _, c := range cs {
		k := c.Key
		if k == nil {
			continue
		}
		out = append(out, KeyStatus{Domain: k.Domain, Selector: k.Selector, Algorithm: k.Algorithm, State: k.State(),
			Path: k.Path, DNS: c.DNS(), Record: k.ZoneLine()})
	}
	return out
}

// WriteKeyTable writes the table of ebb dkim list, or that dir has no
// key and how to make one.
func WriteKeyTable(w io.Writer, dir string, cs []KeyCheck) {
	if len(cs) == 0 {
		fmt.Fprintf(w, "no DKIM keys in %s; make one with: ebb dkim keygen DOMAIN\n", dir)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tSELECTOR\tALGORITHM\tSTATE\tDNS")
	for _, c := range cs {
		if c.Key == nil {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Key.Domain, c.Key.Selector, c.Key.Algorithm, c.Key.State(), c.DNS())
	}
	tw.Flush()
}
