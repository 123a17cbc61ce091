package msgauth

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// fromVariant is one way of writing a message's From: (and the header
// around it). {A} stands for the author domain the test is about, {a} for
// it written in upper case, {As} for it with white space around its dots,
// {B} for a second domain.
type fromVariant struct {
	name string
	head string // header lines (CRLF) holding the From: field(s)
	// judged: the From: gives DMARC a domain to judge (some forms do not:
	// no From: field, one hidden below a line that ends the header); a
	// message from a hosted domain written so is refused too.
	judged bool
	// signable: mail written so can leave signed and be verified (not
	// with a bare CR or a NUL in its header, which verifiers read their
	// own way).
	signable bool
	// noOpenDKIM says why OpenDKIM cannot verify mail written so, whoever
	// signed it ("" when it can): its own limits, not the signature's.
	noOpenDKIM string
}

// fromVariants generates From: forms from RFC 5322 §3.4 and §3.6.2
// (mailboxes, name-addr, groups, several addresses, quoted local parts,
// comments and folding white space), §4 (obsolete phrase, local part,
// domain, route, empty list elements, white space before the colon),
// RFC 2047 (encoded display names in many charsets and both encodings,
// words that do not decode), RFC 6532 (raw UTF-8), forms no reader should
// take for an address but some do, and fields before the From: in
// unusual shapes.
func fromVariants() []fromVariant {
	var vs []fromVariant
	add := func(name, head string, judged, signable bool) {
		vs = append(vs, fromVariant{name: name, head: head, judged: judged, signable: signable})
	}
	field := func(name, value string) { add(name, "From: "+value+"\r\n", true, true) }

	// Display names (RFC 5322 §3.2.5, §4.1; RFC 2047 §5 (3); RFC 6532).
	for _, n := range []struct{ label, text string }{
		{"atom name", "Chief Executive"},
		{"quoted name with specials", `"Chief, \"the\" Executive (CEO) <x@y>"`},
		{"obs-phrase with dots", "Mr. C. Executive"},
		{"name with a comment", "Chief (the boss) Executive"},
		{"RFC 2047 utf-8 Q", "=?utf-8?q?Gr=C3=BC=C3=9Fe?="},
		{"RFC 2047 utf-8 B", "=?UTF-8?B?R3LDvMOfZQ==?="},
		{"RFC 2047 iso-8859-1", "=?iso-8859-1?q?Gr=FC=DFe?="},
		{"RFC 2047 windows-1252", "=?windows-1252?q?Bank_Gr=FC=DFe_=80?="},
		{"RFC 2047 iso-8859-15", "=?ISO-8859-15?Q?=A4uro?="},
		{"RFC 2047 iso-2022-jp", "=?ISO-2022-JP?B?GyRCJTUlcyVXJWsbKEI=?="},
		{"RFC 2047 shift_jis", "=?shift_jis?b?g1SDk4N2g4s=?="},
		{"RFC 2047 euc-jp", "=?euc-jp?b?pbWl86XXpes=?="},
		{"RFC 2047 koi8-r", "=?koi8-r?b?8NLJ18XU?="},
		{"RFC 2047 gb2312", "=?gb2312?b?1tC5+g==?="},
		{"RFC 2047 big5", "=?big5?b?pKSk5Q==?="},
		{"RFC 2047 euc-kr", "=?euc-kr?b?x9Gx2w==?="},
		{"RFC 2047 utf-16", "=?utf-16?b?/v8AQwBFAE8=?="},
		{"RFC 2047 with a language (RFC 2231)", "=?utf-8*en?q?Chief?="},
		{"RFC 2047 unknown charset", "=?x-klingon?q?Qapla?="},
		{"RFC 2047 bad encoding", "=?utf-8?z?abc?="},
		{"RFC 2047 adjacent words", "=?utf-8?q?Gr=C3=BC?= =?utf-8?q?=C3=9Fe?="},
		{"RFC 2047 word inside quotes", `"=?utf-8?q?Chief?="`},
		{"raw UTF-8 (RFC 6532)", "Grüße Vorstand"},
		{"raw latin-1 bytes", "Gr\xfc\xdfe"},
	} {
		field(n.label, n.text+" <ceo@{A}>")
	}
	// Addresses (RFC 5322 §3.4.1, §4.4).
	for _, a := range []struct{ label, text string }{
		{"addr-spec", "ceo@{A}"},
		{"upper-case domain", "CEO@{a}"},
		{"quoted local part", `"ceo"@{A}`},
		{"quoted local part with a space", `"chief exec"@{A}`},
		{"comments around the parts", "(x) ceo (y) @ (z) {A} (w)"},
		{"obs-local-part and obs-domain with white space", "chief . exec @ {As}"},
		{"subdomain (organizational policy)", "ceo@mail.{A}"},
		{"addr-spec, comment as name", "ceo@{A} (Chief Executive)"},
	} {
		field(a.label, a.text)
		field(a.label+" in angle brackets", "<"+a.text+">")
	}
	// Angle brackets (RFC 5322 §3.4, CFWS inside; §4.4 obs-route).
	field("CFWS inside the brackets", "<ceo@{A} >")
	field("CFWS inside the brackets, both sides", "Chief < ceo@{A} >")
	field("folded inside the brackets", "Chief <\r\n ceo@{A}>")
	field("no space before the bracket", "Chief<ceo@{A}>")
	field("obs-route", "<@relay.example,@r2.example:ceo@{A}>")
	field("obs-route with empty elements", "Chief <,@relay.example,,@r2.example:ceo@{A}>")
	// Several addresses and groups (RFC 5322 §3.6.2, §3.4, §4.4).
	field("two addresses, second domain first", "other@{B}, ceo@{A}")
	field("two addresses, second domain last", "Chief <ceo@{A}>, Other <other@{B}>")
	field("two addresses of one domain", "ceo@{A}, cfo@{A}")
	field("obs-mbox-list with empty elements", ", , ceo@{A} ,")
	field("group", "Board: ceo@{A};")
	field("group with the second domain", "Board: other@{B}, Chief <ceo@{A}>;")
	field("group then mailbox", "Board: other@{B};, ceo@{A}")
	// What is no RFC 5322 address, but where readers find one.
	field("address in the phrase", "ceo@{A} <other@{B}>")
	add("encoded word for the address", "From: =?utf-8?q?ceo=40{A}?=\r\n", true, true)
	vs[len(vs)-1].noOpenDKIM = "OpenDKIM refuses a message whose From: it cannot parse (bad message format)"
	field("encoded word beside the address", "=?utf-8?q?ceo=40{A}?= <ceo@{A}>")
	field("missing closing bracket", "Chief <ceo@{A}")
	add("unterminated quote", "From: \"Chief <ceo@{A}>\r\n", true, true)
	vs[len(vs)-1].noOpenDKIM = "OpenDKIM refuses a message whose From: it cannot parse (bad message format)"
	field("trailing dot in the domain", "ceo@{A}.")
	// The field itself (RFC 5322 §2.2, §4.5).
	for _, f := range []struct{ label, head string }{
		{"lower-case field name", "from: ceo@{A}\r\n"},
		{"upper-case field name", "FROM: ceo@{A}\r\n"},
		{"white space before the colon (obs)", "From : ceo@{A}\r\n"},
		{"tab before the colon (obs)", "From\t: ceo@{A}\r\n"},
		{"no space after the colon", "From:ceo@{A}\r\n"},
		{"value on a continuation line", "From:\r\n Chief\r\n <ceo@{A}>\r\n"},
		{"white-space-only continuation (obs-FWS)", "From: Chief\r\n \r\n <ceo@{A}>\r\n"},
		{"LF line ends", "From: ceo@{A}\n"},
		{"two From: fields, second domain first", "From: other@{B}\r\nFrom: ceo@{A}\r\n"},
		{"two From: fields, second domain last", "From: ceo@{A}\r\nFrom: other@{B}\r\n"},
	} {
		add(f.label, f.head, true, true)
	}
	// Fields before the From: in unusual shapes.
	long := "X-Long: start\r\n" + strings.Repeat(" "+strings.Repeat("long text ", 90)+"\r\n", 80) // 72 KiB, in lines of 900
	for _, f := range []struct{ label, head string }{
		{"after a Received chain", "Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\r\nReceived: from c\r\n\tby d; Mon, 1 Jan 2024 00:00:00 +0000\r\n"},
		{"after a 72 KiB field", long},
		{"after an empty field", "X-Empty:\r\n"},
		{"after a field with 8-bit text", "X-Note: Grüße \xfc\r\n"},
		{"after a field whose comment names the second domain", "Comments: (From: other@{B})\r\n"},
		{"after an mbox From line", "From someone@{B} Mon Jan  1 00:00:00 2024\r\n"},
		{"after a field named like From", "From-Address: other@{B}\r\nX-From: other@{B}\r\n"},
		{"after Sender and Reply-To of the second domain", "Sender: other@{B}\r\nReply-To: other@{B}\r\n"},
	} {
		add(f.label, f.head+"From: Chief <ceo@{A}>\r\n", true, true)
		if strings.HasPrefix(f.head, "X-Long") {
			vs[len(vs)-1].noOpenDKIM = "OpenDKIM does not take a header field longer than 64 KiB"
		}
	}
	// Lines that make some reader stop before the From: or see another.
	add("a bare CR hides a From:", "Subject: x\rFrom: ceo@{A}\r\nFrom: other@{B}\r\n", true, false)
	add("a NUL in a name like From", "From: other@{B}\r\nFrom\x00: ceo@{A}\r\n", true, false)
	add("a From: below a line that is no field", "X-A: 1\r\nthis line is no field\r\nFrom: ceo@{A}\r\n", false, false)
	add("a From: below a continuation with nothing to continue", " x\r\nFrom: ceo@{A}\r\n", false, false)
	add("no From: at all", "Sender: ceo@{A}\r\n", false, false)
	add("a From: without a domain", "From: ceo\r\n", false, false)
	add("an empty group as From:", "From: Board:;\r\n", false, false)
	return vs
}

// expand puts the domains into a variant's header.
func (v fromVariant) expand(a, b string) string {
	return strings.NewReplacer("{As}", strings.ReplaceAll(a, ".", " . "), "{A}", a, "{a}", strings.ToUpper(a), "{B}", b).Replace(v.head)
}

// Issue 22, done when: From: variants from RFC 5322 §3.4/§3.6.2/§4 and
// RFC 2047 are sent through a real ebb serve spoofing a p=reject domain
// (SPF -all), and none reaches a Maildir: each is refused at the end of
// DATA. The same variants written by a hosted domain leave signed,
// arrive with DMARC pass, and their signatures pass dkimpy and OpenDKIM.
// Every Authentication-Results field ebb stored parses with a strict RFC
// 8601 parser (python3's authres).
func TestAuthFromVariantsNeverSpoof(t *testing.T) {
	t.Parallel()
	variants := fromVariants()
	// alice submits every form as written by other authors of the hosted
	// domains: what the signer signs is tested here, who may write which
	// From: is TestSubmissionSenderIsTheLogin's.
	p := harness.NewPair(t, harness.PairOpts{Records: []string{
		`bank.example. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
		`_dmarc.bank.example. 300 IN TXT "v=DMARC1; p=reject"`,
		`_dmarc.friend.example. 300 IN TXT "v=DMARC1; p=none"`,
		`one.example. 300 IN TXT "v=spf1 ip4:127.0.0.0/8 -all"`,
		`_dmarc.one.example. 300 IN TXT "v=DMARC1; p=reject"`,
		`_dmarc.alt.example. 300 IN TXT "v=DMARC1; p=reject"`,
	}, One: harness.OutOpts{Sub: `sender_policy = "any"`}})
	one, two, dns := p.One, p.Two, p.DNS
	harness.EbbAs(t, one.Daemon, nil, "domain", "add", "-c", one.Conf, "alt.example")
	var records []string
	for _, k := range []struct{ domain, sel, alg string }{
		{"one.example", "ed1", "ed25519"}, {"one.example", "rsa1", "rsa"},
		{"alt.example", "ed1", "ed25519"}, {"alt.example", "rsa1", "rsa"},
	} {
		records = append(records, dkimKeygen(t, dns, one.Conf, k.domain, k.sel, k.alg))
	}

	// The spoofs, on port 25 from a stranger, in a few sessions.
	t.Run("spoofs are refused", func(t *testing.T) {
		var c *harness.SmtpConn
		for i, v := range variants {
			if i%25 == 0 {
				if c != nil {
					c.Cmd("QUIT")
				}
				c = harness.DialFrom(t, two.SMTP, "127.0.0.2")
				c.C.SetDeadline(time.Now().Add(2 * time.Minute))
				if r := c.Cmd("EHLO [127.0.0.1]"); !strings.HasPrefix(r, "250") {
					t.Fatalf("EHLO: %q", r)
				}
			}
			c.Cmd("RSET")
			if r := c.Cmd("MAIL FROM:<x@elsewhere.example>"); !strings.HasPrefix(r, "250") {
				t.Fatalf("MAIL: %q", r)
			}
			if r := c.Cmd("RCPT TO:<bob@two.example>"); !strings.HasPrefix(r, "250") {
				t.Fatalf("RCPT: %q", r)
			}
			if r := c.Cmd("DATA"); !strings.HasPrefix(r, "354") {
				t.Fatalf("DATA: %q", r)
			}
			msg := v.expand("bank.example", "friend.example") + fmt.Sprintf("Subject: spoof %d\r\n\r\nPay the invoice.\r\n", i)
			r := c.Cmd(msg + ".")
			want := "550 5.7.1 DMARC policy of "
			if !v.judged {
				want = "550 5.7.1 The From: field cannot be judged"
			}
			if !strings.HasPrefix(r, want) || v.judged && !strings.Contains(r, "bank.example rejects this message") {
				t.Errorf("spoof %d (%s): %q, want %q", i, v.name, strings.TrimSpace(r), want)
			}
		}
		c.Cmd("QUIT")
		// A genuine message after them all, as the marker that the
		// daemon is done with every one before it.
		two.SubmitRaw(t, "From: bob@two.example\r\nSubject: marker\r\n\r\nlast\r\n")
		marker := two.WaitMail("bob", 1, 30*time.Second)[0]
		if ar := headerField(marker, "Authentication-Results"); !strings.Contains(ar, `smtp.helo="[127.0.0.1]"`) {
			t.Errorf("HELO [127.0.0.1] in the A-R: %s", ar)
		}
		mf := filepath.Join(t.TempDir(), "marker.eml")
		os.WriteFile(mf, []byte(marker), 0o644)
		authresCheck(t, mf)
		for _, m := range storedMessages(t, filepath.Join(two.Dir, "mail", "two.example", "bob", "Maildir")) {
			if strings.Contains(m, "Subject: spoof ") {
				t.Errorf("a spoof reached a Maildir:\n%.600s", m)
			}
		}
	})

	// The same forms from a hosted domain: signed, delivered, verified.
	t.Run("hosted mail is signed and verifies", func(t *testing.T) {
		var sent []int
		var msgs []string
		for i, v := range variants {
			if !v.judged || !v.signable {
				continue
			}
			sent = append(sent, i)
			msgs = append(msgs, v.expand("one.example", "alt.example")+fmt.Sprintf("To: bob@two.example\r\nSubject: hosted %d\r\n\r\nThe minutes, as promised.\r\n", i))
		}
		one.SubmitRawMany(t, "alice@one.example", "bob@two.example", msgs)
		got := two.WaitMail("bob", 1+len(sent), 90*time.Second) // the marker, then these
		byIndex := map[int]string{}
		re := regexp.MustCompile(`(?m)^Subject: hosted (\d+)$`)
		dir := t.TempDir()
		for _, m := range got {
			if s := re.FindStringSubmatch(m); s != nil {
				var i int
				fmt.Sscan(s[1], &i)
				byIndex[i] = m
			}
		}
		var files []string
		stored := map[string]string{} // file: the variant
		for _, i := range sent {
			v := variants[i]
			m, ok := byIndex[i]
			if !ok {
				t.Errorf("hosted %d (%s) did not arrive in the inbox", i, v.name)
				continue
			}
			ar := headerField(m, "Authentication-Results")
			if !strings.Contains(ar, "dmarc=pass") {
				t.Errorf("hosted %d (%s): %s", i, v.name, ar)
			}
			if strings.Count(m, "DKIM-Signature:") < 2 {
				t.Errorf("hosted %d (%s): not signed (both keys):\n%.800s", i, v.name, m)
			}
			p := filepath.Join(dir, fmt.Sprintf("%03d.eml", i))
			os.WriteFile(p, []byte(strings.ReplaceAll(strings.ReplaceAll(m, "\r\n", "\n"), "\n", "\r\n")), 0o644)
			if v.noOpenDKIM == "" {
				files = append(files, p)
			} else {
				t.Logf("hosted %d (%s): not given to OpenDKIM: %s", i, v.name, v.noOpenDKIM)
				authresCheck(t, p)
			}
			stored[p] = v.name
		}
		// dkimpy, on the copies as stored (the script turns their LF
		// into CRLF), all in one run.
		var all []string
		for p := range stored {
			all = append(all, p)
		}
		sort.Strings(all)
		if r := harness.Run(t, exec.Command("/usr/bin/python3", append([]string{"testdata/dkimpy_verify.py", dns.Addr()}, all...)...), nil); r.Code != 0 {
			named := false
			for _, l := range strings.Split(r.Stdout, "\n") {
				if p, res, ok := strings.Cut(l, ": "); ok && !strings.Contains(res, " pass ") {
					t.Errorf("hosted %s (%s): dkimpy: %s", filepath.Base(p), stored[p], res)
					named = true
				}
			}
			if !named || r.Stderr != "" {
				t.Errorf("dkimpy: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
			}
		}
		opendkimVerify(t, records, files)
		authresCheck(t, files...)
	})
}

// storedMessages reads every message under a Maildir (all folders).
func storedMessages(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && (filepath.Base(filepath.Dir(p)) == "new" || filepath.Base(filepath.Dir(p)) == "cur") {
			b, _ := os.ReadFile(p)
			out = append(out, string(b))
		}
		return nil
	})
	return out
}

// opendkimVerify runs OpenDKIM's verifier (opendkim -t, its test mode)
// over files with the published keys (TestPublicKeys: no DNS) and fails
// the test unless every signature of every file passes.
func opendkimVerify(t *testing.T, records, files []string) {
	t.Helper()
	dir := t.TempDir()
	var keys strings.Builder
	txt := regexp.MustCompile(`"([^"]*)"`)
	for _, r := range records {
		name := strings.TrimSuffix(strings.Fields(r)[0], ".")
		var v strings.Builder
		for _, m := range txt.FindAllStringSubmatch(r, -1) {
			v.WriteString(m[1])
		}
		fmt.Fprintf(&keys, "%s %s\n", name, v.String())
	}
	kf, cf := filepath.Join(dir, "keys"), filepath.Join(dir, "opendkim.conf")
	os.WriteFile(kf, []byte(keys.String()), 0o644)
	os.WriteFile(cf, []byte("Mode v\nSyslog no\nTestPublicKeys "+kf+"\nAlwaysAddARHeader yes\nAuthservID opendkim.test\nMaximumSignaturesToVerify 10\n"), 0o644)
	sort.Strings(files)
	for _, f := range files {
		r := harness.Run(t, exec.Command("/usr/sbin/opendkim", "-x", cf, "-vvv", "-t", f), nil)
		out := r.Stdout + r.Stderr
		b, _ := os.ReadFile(f)
		head, _, _ := bytes.Cut(b, []byte("\r\n\r\n"))
		sigs := bytes.Count(head, []byte("\nDKIM-Signature:"))
		if bytes.HasPrefix(head, []byte("DKIM-Signature:")) {
			sigs++
		}
		if pass := strings.Count(out, "dkim=pass"); r.Code != 0 || sigs == 0 || pass != sigs || strings.Contains(out, "dkim=fail") {
			t.Errorf("OpenDKIM on %s: %d signatures, %d pass (exit %d):\n%s", filepath.Base(f), sigs, pass, r.Code, out)
		}
	}
}

// authresCheck parses every Authentication-Results field of each file
// with python3's authres, a strict RFC 8601 parser.
func authresCheck(t *testing.T, files ...string) {
	t.Helper()
	r := harness.Run(t, exec.Command("/usr/bin/python3", append([]string{"testdata/authres_check.py"}, files...)...), nil)
	if r.Code != 0 {
		t.Errorf("authres (RFC 8601) refuses fields ebb wrote:\n%s%s", r.Stdout, r.Stderr)
	}
}
