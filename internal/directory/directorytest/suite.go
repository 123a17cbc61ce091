// Package directorytest is the one test suite every directory backend must
// pass. internal/directory runs it against SQLite; test/ runs it against
// SQLite and a real PostgreSQL server.
package directorytest

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
)

// Opener returns a fresh, empty, migrated directory for one test. The
// directory must use max_alias_depth 10, subaddress separator "+", cache
// TTL 0 (so the cases see their own writes through a second handle too) and
// cheap argon2 parameters.
type Opener func(t *testing.T) *directory.Directory

// Case is one behaviour every backend shows.
type Case struct {
	Name string
	Run  func(t *testing.T, d *directory.Directory)
}

// Run runs every case against fresh directories from open.
func Run(t *testing.T, open Opener) {
	for _, c := range Cases {
		t.Run(c.Name, func(t *testing.T) { c.Run(t, open(t)) })
	}
}

var ctx = context.Background()

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// seed builds the example world most cases use.
func seed(t *testing.T, d *directory.Directory) {
	t.Helper()
	must(t, d.AddDomain(ctx, "Example.COM"))
	must(t, d.AddDomain(ctx, "other.test"))
	for _, a := range []string{"alice@example.com", "Bob@example.com", "carol@other.test"} {
		must(t, d.AddMailbox(ctx, directory.Mailbox{Address: a, Enabled: true}))
	}
}

func addresses(mbs []*directory.Mailbox) []string {
	var out []string
	for _, m := range mbs {
		out = append(out, m.Address)
	}
	sort.Strings(out)
	return out
}

func resolveTo(t *testing.T, d *directory.Directory, addr string, wantMailboxes, wantForwards []string) *directory.Resolution {
	t.Helper()
	r, err := resolveBoth(t, d, addr)
	if err != nil {
		t.Fatalf("Resolve(%q): %v", addr, err)
	}
	got := addresses(r.Mailboxes)
	fw := slices.Clone(r.Forwards)
	sort.Strings(fw)
	sort.Strings(wantMailboxes)
	sort.Strings(wantForwards)
	if !slices.Equal(got, wantMailboxes) || !slices.Equal(fw, wantForwards) {
		t.Fatalf("Resolve(%q) = mailboxes %v forwards %v (chain %v); want mailboxes %v forwards %v", addr, got, fw, r.Chain, wantMailboxes, wantForwards)
	}
	return r
}

// Cases pins down the directory's behaviour.
var Cases = []Case{
	{"a mailbox resolves to itself and keeps its stored spelling", func(t *testing.T, d *directory.Directory) {
		seed(t, d)
		resolveTo(t, d, "alice@example.com", []string{"alice@example.com"}, nil)
		resolveTo(t, d, "BOB@EXAMPLE.com", []string{"Bob@example.com"}, nil)
	}},
	{"an unknown address in a hosted domain is Unknown, not an error", func(t *testing.T, d *directory.Directory) {
		seed(t, d)
		r := resolveTo(t, d, "nobody@example.com", nil, nil)
		if !r.Unknown() {
			t.Fatal("Unknown() = false")
		}
	}},
	{"domains compare case-insensitively and IDN spellings meet", func(t *testing.T, d *directory.Directory) {
		must(t, d.AddDomain(ctx, "Bücher.Example"))
		for _, dom := range []string{"bücher.example", "BÜCHER.example", "xn--bcher-kva.example", "XN--BCHER-KVA.EXAMPLE."} {
			ok, err := isLocalBoth(t, d, dom)
			if err != nil || !ok {
				t.Errorf("IsLocalDomain(%q) = %v, %v; want true", dom, ok, err)
			}
		}
		must(t, d.AddMailbox(ctx, directory.Mailbox{Address: "leser@xn--bcher-kva.example", Enabled: true}))
		resolveTo(t, d, "Leser@BÜCHER.example", []string{"leser@xn--bcher-kva.example"}, nil)
		if err := d.AddDomain(ctx, "xn--bcher-kva.example"); !errors.Is(err, directory.ErrExists) {
			t.Fatalf("adding the punycode spelling again = %v; want ErrExists", err)
		}
		ok, _ := isLocalBoth(t, d, "example.net")
		if ok {
			t.Fatal("IsLocalDomain(example.net) = true")
		}
	}},
	{"an alias fans out to local and remote destinations", func(t *testing.T, d *directory.Directory) {
		seed(t, d)
		must(t, d.AddAlias(ctx, "team@example.com", "alice@example.com", "bob@EXAMPLE.com", "carol@other.test", "dave@remote.example"))
		r := resolveTo(t, d, "team@example.com", []string{"alice@example.com", "Bob@example.com", "carol@other.test"}, []string{"dave@remote.example"})
		if !slices.Contains(r.Chain, "team@example.com") {
			t.Fatalf("chain %v does not name the alias", r.Chain)
		}
	}},
	{"an alias wins over a mailbox of the same name, and may keep a copy by listing itself", func(t *testing.T, d *directory.Directory) {
		seed(t, d)
		must(t, d.AddAlias(ctx, "alice@example.com", "alice@example.com", "bob@example.com"))
		resolveTo(t, d, "alice@example.com", []string{"alice@example.com", "Bob@example.com"}, nil)
	}},
	{"a chain of aliases is followed and duplicates reach a mailbox once", func(t *testing.T, d *directory.Directory) {
		seed(t, d)
		must(t, d.AddAlias(ctx, "a@example.com", "b@example.com", "alice@example.com"))
		must(t, d.AddAlias(ctx, "b@example.com", "c@example.com"))
		must(t, d.AddAlias(ctx, "c@example.com", "alice@example.com"))
		resolveTo(t, d, "a@example.com", []string{"alice@example.com"}, nil)
	}},
	{"an alias loop is refused and the error names the chain", func(t *testing.T, d *directory.Directory) {
		seed(t, d)
		must(t, d.AddAlias(ctx, "x@example.com", "y@example.com"))
		must(t, d.AddAlias(ctx, "y@example.com", "z@example.com"))
		must(t, d.AddAlias(ctx, "z@example.com", "X@example.com"))
		_, err := resolveBoth(t, d, "x@example.com")
		if !errors.Is(err, directory.ErrAliasLoop) {
			t.Fatalf("Resolve in a loop = %v; want ErrAliasLoop", err)
		}
		de, ok := diag.As(err)
		if !ok || de.Temporary() {
			t.Fatalf("loop error %v is not a permanent diag error", err)
		}
		for _, a := range []string{"x@example.com", "y@example.com", "z@example.com"} {
			if !strings.Contains(err.Error(), a) {
				t.Fatalf("loop error %q does not name %s", err, a)
			}
		}
	}},
	{"a chain deeper than max_alias_depth is refused, one within it is followed", func(t *testing.T, d *directory.Directory) {
		seed(t, d)
		// d0 → d1 → … → d10 → alice: 11 aliases.
		for i := 0; i <= 10; i++ {
			next := "d" + itoa(i+1) + "@example.com"
			if i == 10 {
				next = "alice@example.com"
			}
			must(t, d.AddAlias(ctx, "d"+itoa(i)+"@example.com", next))
		}
		resolveTo(t, d, "d1@example.com", []string{"alice@example.com"}, nil) // 10 aliases
		_, err := resolveBoth(t, d, "d0@example.com")
		if !errors.Is(err, directory.ErrAliasTooDeep) {
			t.Fatalf("Resolve through 11 aliases = %v; want ErrAliasTooDeep", err)
		}
		if !strings.Contains(err.Error(), "d0@example.com") || !strings.Contains(err.Error(), "d10@example.com") {
			t.Fatalf("depth error %q does not name the chain", err)
		}
	}},
	{"an explicit mailbox wins over the catch-all", func(t *testing.T, d *directory.Directory) {
		seed(t, d)
		must(t, d.AddAlias(ctx, "@example.com", "bob@example.com"))
		resolveTo(t, d, "alice@example.com", []string{"alice@example.com"}, nil)
		resolveTo(t, d, "whoever@example.com", []string{"Bob@example.com"}, nil)
		resolveTo(t, d, "whoever@other.test", nil, nil)
	}},
	{"a subaddress reaches the mailbox and reports the detail", func(t *testing.T, d *directory.Directory) {
		seed(t, d)
		r := resolveTo(t, d, "alice+lists@example.com", []string{"alice@example.com"}, nil)
		if r.Detail != "lists" {
			t.Fatalf("Detail = %q; want lists", r.Detail)
		}
	}},
	{"a subaddress reaches an alias, and an explicit alias for the subaddress wins", func(t *testing.T, d *directory.Directory) {
		seed(t, d)
		must(t, d.AddAlias(ctx, "sales@example.com", "alice@example.com", "bob@example.com"))
		must(t, d.AddAlias(ctx, "sales+vip@example.com", "carol@other.test"))
		resolveTo(t, d, "sales+web@example.com", []string{"alice@example.com", "Bob@example.com"}, nil)
		resolveTo(t, d, "sales+vip@example.com", []string{"carol@other.test"}, nil)
	}},
	{"a subaddress of an unknown user falls to the catch-all", func(t *testing.T, d *directory.Directory) {
		seed(t, d)
		must(t, d.AddAlias(ctx, "@example.com", "bob@example.com"))
		resolveTo(t, d, "nobody+x@example.com", []string{"Bob@example.com"}, nil)
	}},
	{"a domain alias reaches the target's mailboxes, aliases and catch-all", func(t *testing.T, d *directory.Directory) {
		seed(t, d)
		must(t, d.AddDomainAlias(ctx, "example.org", "example.com"))
		must(t, d.AddAlias(ctx, "sales@example.com", "bob@example.com"))
		must(t, d.AddAlias(ctx, "@example.com", "carol@other.test"))
		ok, err := isLocalBoth(t, d, "EXAMPLE.org")
		if err != nil || !ok {
			t.Fatalf("IsLocalDomain(domain alias) = %v, %v", ok, err)
		}
		resolveTo(t, d, "alice@example.org", []string{"alice@example.com"}, nil)
		resolveTo(t, d, "sales@example.org", []string{"Bob@example.com"}, nil)
		resolveTo(t, d, "unknown@example.org", []string{"carol@other.test"}, nil)
	}},
	{"a disabled mailbox resolves with Enabled false", func(t *testing.T, d *directory.Directory) {
		seed(t, d)
		must(t, d.SetEnabled(ctx, "alice@example.com", false))
		r := resolveTo(t, d, "alice@example.com", []string{"alice@example.com"}, nil)
		if r.Mailboxes[0].Enabled {
			t.Fatal("disabled mailbox resolved with Enabled true")
		}
	}},
	{"quota and Maildir are stored", func(t *testing.T, d *directory.Directory) {
		seed(t, d)
		must(t, d.SetQuota(ctx, "alice@example.com", 1<<30, 5000))
		must(t, d.SetMaildir(ctx, "alice@example.com", "/srv/mail/alice"))
		mb, err := mailboxBoth(t, d, "ALICE@example.com")
		must(t, err)
		if mb.QuotaBytes != 1<<30 || mb.QuotaMessages != 5000 || mb.Maildir != "/srv/mail/alice" {
			t.Fatalf("mailbox = %+v", mb)
		}
	}},
	{"a mailbox needs a hosted domain and a unique address", func(t *testing.T, d *directory.Directory) {
		seed(t, d)
		if err := d.AddMailbox(ctx, directory.Mailbox{Address: "x@nothosted.test"}); !errors.Is(err, directory.ErrNotHosted) {
			t.Fatalf("AddMailbox in unhosted domain = %v; want ErrNotHosted", err)
		}
		if err := d.AddMailbox(ctx, directory.Mailbox{Address: "ALICE@example.com"}); !errors.Is(err, directory.ErrExists) {
			t.Fatalf("AddMailbox twice (other case) = %v; want ErrExists", err)
		}
	}},
	{"removing a domain with mailboxes is refused unless forced", func(t *testing.T, d *directory.Directory) {
		seed(t, d)
		must(t, d.AddDomainAlias(ctx, "example.org", "example.com"))
		must(t, d.AddAlias(ctx, "team@example.com", "alice@example.com"))
		if _, err := d.RemoveDomain(ctx, "example.com", false); !errors.Is(err, directory.ErrHasMailboxes) {
			t.Fatalf("RemoveDomain without force = %v; want ErrHasMailboxes", err)
		}
		resolveTo(t, d, "alice@example.com", []string{"alice@example.com"}, nil)
		res, err := d.RemoveDomain(ctx, "example.com", true)
		must(t, err)
		if len(res.Mailboxes) != 2 || !slices.Contains(res.Domains, "example.org") {
			t.Fatalf("RemoveDomain = %+v", res)
		}
		for _, dom := range []string{"example.com", "example.org"} {
			if ok, _ := isLocalBoth(t, d, dom); ok {
				t.Fatalf("%s still hosted", dom)
			}
		}
		resolveTo(t, d, "carol@other.test", []string{"carol@other.test"}, nil)
	}},
	{"aliases are listed, and removed one destination or whole", func(t *testing.T, d *directory.Directory) {
		seed(t, d)
		must(t, d.AddAlias(ctx, "team@example.com", "alice@example.com", "bob@example.com"))
		must(t, d.AddAlias(ctx, "@example.com", "alice@example.com"))
		as, err := d.Aliases(ctx, "example.com")
		must(t, err)
		if len(as) != 2 || as[0].Address != "@example.com" || len(as[1].Destinations) != 2 {
			t.Fatalf("Aliases = %+v", as)
		}
		n, err := d.RemoveAlias(ctx, "team@example.com", "bob@example.com")
		if err != nil || n != 1 {
			t.Fatalf("RemoveAlias one = %d, %v", n, err)
		}
		resolveTo(t, d, "team@example.com", []string{"alice@example.com"}, nil)
		if _, err := d.RemoveAlias(ctx, "team@example.com"); err != nil {
			t.Fatal(err)
		}
		if _, err := d.RemoveAlias(ctx, "team@example.com"); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("RemoveAlias of a removed alias = %v; want ErrNotFound", err)
		}
	}},
	{"authenticate accepts the password, refuses others, and rehashes to argon2id", func(t *testing.T, d *directory.Directory) {
		seed(t, d)
		// doveadm pw -s SHA512-CRYPT -p secret
		must(t, d.AddMailbox(ctx, directory.Mailbox{Address: "old@example.com", Enabled: true,
			PasswordHash: "{SHA512-CRYPT}$6$gp9CS0no/7H5biQ8$4/SeZH3L5lZbbEXOaVo7PNvg9oSqwZmry8IirCA5BW.0lOneyAekCBYpzEyA0k0O718VwGTdY1NnXzTUfM53B0"}))
		if _, err := d.Authenticate(ctx, "old@example.com", "wrong"); !errors.Is(err, directory.ErrAuthFailed) {
			t.Fatalf("wrong password = %v; want ErrAuthFailed", err)
		}
		mb, err := d.Authenticate(ctx, "OLD@Example.com", "secret")
		must(t, err)
		if !strings.HasPrefix(mb.PasswordHash, "{ARGON2ID}") {
			t.Fatalf("after login the hash is %q; want {ARGON2ID}", mb.PasswordHash)
		}
		stored, err := mailboxBoth(t, d, "old@example.com")
		must(t, err)
		if !strings.HasPrefix(stored.PasswordHash, "{ARGON2ID}$argon2id$v=19$") {
			t.Fatalf("stored hash %q was not rehashed", stored.PasswordHash)
		}
		if _, err := d.Authenticate(ctx, "old@example.com", "secret"); err != nil {
			t.Fatalf("login after rehash: %v", err)
		}
		if _, err := d.Authenticate(ctx, "nobody@example.com", "secret"); !errors.Is(err, directory.ErrAuthFailed) {
			t.Fatalf("unknown user = %v; want ErrAuthFailed", err)
		}
		must(t, d.SetPassword(ctx, "alice@example.com", "n3w"))
		must(t, d.SetEnabled(ctx, "alice@example.com", false))
		if _, err := d.Authenticate(ctx, "alice@example.com", "n3w"); !errors.Is(err, directory.ErrAuthFailed) {
			t.Fatalf("disabled mailbox login = %v; want ErrAuthFailed", err)
		}
	}},
	{"concurrent writers and readers all succeed", func(t *testing.T, d *directory.Directory) {
		seed(t, d)
		var wg sync.WaitGroup
		errs := make(chan error, 200)
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 25; i++ {
					a := "u" + itoa(w) + "-" + itoa(i) + "@example.com"
					if err := d.AddMailbox(ctx, directory.Mailbox{Address: a, Enabled: true}); err != nil {
						errs <- err
					}
					if _, err := d.Resolve(ctx, a); err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		mbs, err := d.Mailboxes(ctx, "example.com")
		must(t, err)
		if len(mbs) != 102 {
			t.Fatalf("%d mailboxes; want 102", len(mbs))
		}
	}},
	{"import applies good lines in one transaction and reports bad ones with line numbers", func(t *testing.T, d *directory.Directory) {
		must(t, d.AddDomain(ctx, "example.com"))
		must(t, d.AddMailbox(ctx, directory.Mailbox{Address: "kept@example.com", Enabled: true}))
		file := strings.Join([]string{
			"# a comment",
			"new@example.com:{SHA256-CRYPT}$5$rfkCJp1uPjIBmckF$BOMOwlCnPmAcnG/ejy72gWboenWBXdgnqqH012hLew3::::::",
			"broken-line-without-fields",
			"weird@example.com:{MD4}0123:::",
			"kept@example.com:{BLF-CRYPT}$2y$05$tMTTpMOu8NxVvLpWp.5GbOnxa2PaAw5xCTu5Dl81GSrtSwzXAHDyq:::",
			"fresh@newdomain.test:{SSHA512}mMw3VzRlPuhRI8rCrnIZx+WSSvNRQby1fs3NLgg/xc7XTTlz7keJVIHXQqwqLGiRWt/npvtOawJRxW9zxA9sVRzIg7k=:::",
		}, "\n")
		plan, err := d.ParseDovecotPasswd(strings.NewReader(file), "")
		must(t, err)
		if len(plan.Bad) != 2 || plan.Bad[0].Line != 3 || plan.Bad[1].Line != 4 {
			t.Fatalf("bad lines = %+v; want lines 3 and 4", plan.Bad)
		}
		dry, err := d.Import(ctx, plan, true)
		must(t, err)
		if dry.AddedMailboxes != 2 || dry.UpdatedMailboxes != 1 || len(dry.AddedDomains) != 1 {
			t.Fatalf("dry run = %+v", dry)
		}
		if ok, _ := isLocalBoth(t, d, "newdomain.test"); ok {
			t.Fatal("the dry run changed the directory")
		}
		_, err = d.Import(ctx, plan, false)
		must(t, err)
		for _, a := range []string{"new@example.com", "kept@example.com", "fresh@newdomain.test"} {
			if _, err := d.Authenticate(ctx, a, "secret"); err != nil {
				t.Errorf("login of imported %s: %v", a, err)
			}
		}
	}},
}

func itoa(i int) string { return strconv.Itoa(i) }
