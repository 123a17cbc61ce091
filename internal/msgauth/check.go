package msgauth

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/ebbmail/ebb/internal/envaddr"
	"github.com/ebbmail/ebb/internal/spf"
)

// Resolver is what the checks ask the DNS through: spf.Resolver's
// methods. internal/dnsresolve's Client is the one the daemon uses (it
// asks dns.resolver for any name SPF macros build, and its errors name
// the server asked); a *net.Resolver has the same methods.
type Resolver = spf.Resolver

// Checker judges mail that arrives from outside.
type Checker struct {
	Resolver Resolver
	// MaxSignatures is how many DKIM signatures of one message are
	// verified (one DNS lookup each); the rest are ignored and the header
	// says so. 0: 5.
	MaxSignatures int
	// Timeout is the budget of all checks of one message together; what is
	// not answered by then is temperror. 0: 20s.
	Timeout time.Duration
	// Percent draws the sample for a DMARC pct below 100: a number in
	// [0,100). nil: random.
	Percent func() int
}

// Input is what the checks know of a message.
type Input struct {
	IP       net.IP
	Helo     string
	MailFrom string // the reverse path; "" for <>
	Path     string // the message as received (the spool file)
	// HiddenFrom are From: fields found below where the header ended at
	// text when the message was stored (queue.Message.HiddenFrom): their
	// domains are judged too, as a From: that cannot be read.
	HiddenFrom []string
}

// Disposition is what DMARC asks of the receiver for a failing message
// (RFC 7489 §6.3 p=, after pct).
type Disposition string

const (
	Accept     Disposition = "none"
	Quarantine Disposition = "quarantine"
	Reject     Disposition = "reject"
)

// Result is every verdict on one message.
type Result struct {
	SPF     SPFResult // the MAIL FROM identity (postmaster@HELO for <>)
	HeloSPF SPFResult // the HELO identity (RFC 7208 §2.3)
	DKIM    []DKIMResult
	// DKIMIgnored counts signatures past Checker.MaxSignatures.
	DKIMIgnored int
	DMARC       DMARCResult
}

// SPFResult is one SPF check (RFC 7208 §2.6).
type SPFResult struct {
	Result spf.Result
	Domain string // the domain checked
	Reason string
}

// DKIMResult is one signature's verdict (RFC 6376 §6.1, RFC 8601 §2.7.1).
type DKIMResult struct {
	Result    string // pass, fail, neutral, temperror, permerror
	Domain    string // d=
	Selector  string // s=
	Algorithm string // a=
	BPrefix   string // the first 8 characters of b= (RFC 6008)
	Reason    string
}

// DMARCResult is the DMARC verdict (RFC 7489 §11.2).
//
// A message whose From: names several domains is judged by the strictest
// of their results (RFC 7489 §6.6.1): the fields below are that domain's,
// Domains lists them all.
type DMARCResult struct {
	Result      string // pass, fail, none, temperror, permerror
	From        string // the RFC5322.From domain the result is for
	Policy      string // p= (or sp=) as published
	Percent     int
	Disposition Disposition // what to do with the message, after pct
	Reason      string
	// Failed names the checks that did not give an aligned pass, for the
	// refusal text: "SPF fail (example.net), DKIM none".
	Failed string
	// Domains are every From: domain evaluated (mailhdr.Authors).
	Domains []string
	// Unreadable says why the From: could not be read as RFC 5322
	// writes it; then every domain found in it was evaluated.
	Unreadable string
	// Unjudged says why no DMARC evaluation is possible (no From:, no
	// domain in it, too many domains): the message is treated as failing
	// a p=reject policy (Disposition Reject) rather than let through.
	Unjudged string
	// Published is the record the evaluation used (nil: none found), and
	// DKIMAligned/SPFAligned whether each gave an aligned pass: what a
	// DMARC aggregate report says of the message (internal/reports).
	Published   *Published
	DKIMAligned bool
	SPFAligned  bool
}

func (c *Checker) maxSignatures() int {
	if c.MaxSignatures > 0 {
		return c.MaxSignatures
	}
	return 5
}

func (c *Checker) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 20 * time.Second
}

// Check runs SPF, DKIM and DMARC on the message in in.Path. It never
// fails: trouble (DNS, an unreadable header) is in the results as
// temperror or permerror.
func (c *Checker) Check(ctx context.Context, in Input) *Result {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	res := &Result{}

	// The lookups that do not depend on each other run at once: SPF for
	// HELO and MAIL FROM, the DKIM keys, the DMARC record. The wait is
	// then the slowest of them, not their sum.
	var wg sync.WaitGroup
	helo := strings.TrimSuffix(strings.ToLower(in.Helo), ".")
	wg.Add(1)
	go func() {
		defer wg.Done()
		res.HeloSPF = c.spf(ctx, in.IP, helo, "postmaster@"+helo, helo)
	}()
	if in.MailFrom != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, d, _ := envaddr.Split(in.MailFrom)
			res.SPF = c.spf(ctx, in.IP, helo, in.MailFrom, strings.ToLower(d))
		}()
	}
	spfDone := func() {
		wg.Wait()
		if in.MailFrom == "" {
			// RFC 7208 §2.4: for the null reverse path the MAIL FROM
			// check is done on postmaster@HELO: the HELO result stands
			// for both.
			res.SPF = res.HeloSPF
		}
	}

	facts, herr := readFacts(in.Path, c.maxSignatures(), in.HiddenFrom)
	if herr != nil {
		spfDone()
		// Failing to read the spool file is our trouble: temperror.
		reason := "cannot read the header: " + noPath(herr)
		res.DKIM = []DKIMResult{{Result: "temperror", Reason: reason}}
		res.DMARC = DMARCResult{Result: "temperror", Disposition: Accept, Reason: reason}
		return res
	}
	dmarcDone := c.dmarcLookups(ctx, facts.authors, &wg)
	res.DKIM, res.DKIMIgnored = c.dkim(ctx, in.Path, facts)
	spfDone()
	res.DMARC = dmarcDone(res)
	return res
}

// noPath is err's text without the spool path an *os.PathError names:
// the reason goes into a header the recipient (and whoever they forward
// to) reads, and a local path is never shown outside (principle 1).
func noPath(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

// spf checks one identity. A domain that is no domain name (an empty or
// dotless HELO, an address literal) is none: RFC 7208 §2.3 checks HELO
// only when it is a fully qualified domain name.
func (c *Checker) spf(ctx context.Context, ip net.IP, helo, sender, domain string) SPFResult {
	if domain == "" || ip == nil || !strings.Contains(domain, ".") || strings.HasPrefix(domain, "[") {
		return SPFResult{Result: spf.None, Domain: domain}
	}
	addr, _ := netip.AddrFromSlice(ip)
	o := (&spf.Checker{Resolver: c.Resolver}).CheckHost(ctx, addr.Unmap(), domain, sender, helo)
	out := SPFResult{Result: o.Result, Domain: domain}
	if o.Result != spf.Pass {
		out.Reason = o.Reason
	}
	return out
}

// dkim verifies up to MaxSignatures signatures, reading the file again:
// the body streams through the hashes. facts gives their tags.
func (c *Checker) dkim(ctx context.Context, path string, facts headerFacts) ([]DKIMResult, int) {
	sigs := facts.sigs
	if facts.nsigs == 0 {
		return nil, 0
	}
	max := c.maxSignatures()
	ignored := facts.nsigs - len(sigs)
	if facts.size > MaxHeaderBytes {
		// The message's own shape: permerror, and not held in memory.
		return []DKIMResult{{Result: "permerror", Reason: errHeaderTooLarge.Error() + "; not verified"}}, ignored
	}
	file, err := os.Open(path)
	if err != nil {
		return []DKIMResult{{Result: "temperror", Reason: "cannot read the message: " + noPath(err)}}, ignored
	}
	defer file.Close()
	var lookups atomic.Int32
	body := &blankRunReader{r: file}
	vs, err := dkim.VerifyWithOptions(body, &dkim.VerifyOptions{
		MaxVerifications: max,
		LookupTXT: func(name string) ([]string, error) {
			// Called once per verified signature, from as many goroutines;
			// the context bounds them all.
			if int(lookups.Add(1)) > max {
				return nil, &net.DNSError{Err: "too many DKIM key lookups", Name: name, IsTemporary: true}
			}
			return c.Resolver.LookupTXT(ctx, name)
		},
	})
	if body.err != nil {
		// Our trouble, not the message's: temporary, and the reason goes
		// into a header, so without the spool path.
		return []DKIMResult{{Result: "temperror", Reason: "cannot read the message: " + noPath(body.err)}}, ignored
	}
	if body.over {
		// The message's own shape: permerror for every signature.
		return []DKIMResult{{Result: "permerror", Reason: errBlankRun.Error()}}, ignored
	}
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) && len(vs) == 0 {
		// The reader never fails (above), so this is the message's
		// header: permanent.
		return []DKIMResult{{Result: "permerror", Reason: noPath(err)}}, ignored
	}
	out := make([]DKIMResult, 0, len(vs))
	for i, v := range vs {
		r := DKIMResult{Domain: strings.ToLower(v.Domain)}
		if i < len(sigs) {
			r.Selector, r.Algorithm = sigs[i]["s"], sigs[i]["a"]
			if r.Domain == "" {
				r.Domain = strings.ToLower(sigs[i]["d"])
			}
			if b := sigs[i]["b"]; len(b) >= 8 {
				r.BPrefix = b[:8]
			}
		}
		switch {
		case v.Err == nil:
			r.Result = "pass"
		case dkim.IsTempFail(v.Err) || ctx.Err() != nil:
			r.Result = "temperror"
		case dkim.IsPermFail(v.Err):
			r.Result = "permerror"
		default:
			r.Result = "fail"
		}
		if v.Err != nil {
			r.Reason = strings.TrimPrefix(v.Err.Error(), "dkim: ")
		}
		out = append(out, r)
	}
	return out, ignored
}

// String is a short summary for logs.
func (r *Result) String() string {
	var d []string
	for _, v := range r.DKIM {
		d = append(d, fmt.Sprintf("%s(%s)", v.Result, v.Domain))
	}
	return fmt.Sprintf("spf=%s helo=%s dkim=[%s] dmarc=%s(%s) disposition=%s", r.SPF.Result, r.HeloSPF.Result,
		strings.Join(d, " "), r.DMARC.Result, r.DMARC.From, r.DMARC.Disposition)
}

// percent draws for pct.
func (c *Checker) percent() int {
	if c.Percent != nil {
		return c.Percent()
	}
	return rand.IntN(100)
}
