package scan

import (
	"fmt"
	"strconv"
	"strings"
)

// Verdict is the SMTP answer a report leads to. Code 0 is acceptance
// (250); Hold asks the queue to hold the accepted message.
type Verdict struct {
	Code      int
	Enhanced  [3]int
	Text      string // may be shown to the client: never a local path
	Permanent bool
	By        string // the scanner that decided
	Cause     string // virus, spam, milter, greylist, policy
	Hold      string
}

// Refused reports whether the message is not accepted.
func (v Verdict) Refused() bool { return v.Code != 0 }

// Name is the verdict as a metric label.
func (v Verdict) Name() string {
	switch {
	case v.Code >= 500:
		return "reject"
	case v.Code >= 400:
		return "tempfail"
	case v.Hold != "":
		return "hold"
	}
	return "accept"
}

// decide turns results into one verdict. A verdict on the message beats
// our own trouble: a virus (554 5.7.1 with its name), then a scanner's
// refusal, spam over reject_score (550 5.7.1), a failure whose policy is
// reject, a soft reject or greylist (451 4.7.1), a failure whose policy is
// tempfail; else the message is accepted (and held if a milter said so).
func decide(rs []*Result, es []*entry) Verdict {
	const (
		rVirus = iota
		rRefuse
		rSpam
		rFailReject
		rDefer
		rFailTemp
		rNone
	)
	best, bv := rNone, Verdict{}
	hold := ""
	consider := func(rank int, v Verdict) {
		if rank < best {
			best, bv = rank, v
		}
	}
	for i, r := range rs {
		if r == nil {
			continue
		}
		en := es[i]
		if r.Hold != "" && hold == "" {
			hold = r.Hold
		}
		switch r.Status {
		case Infected:
			consider(rVirus, Verdict{Code: 554, Enhanced: [3]int{5, 7, 1}, Permanent: true, By: r.Scanner, Cause: "virus",
				Text: "Message refused: virus found: " + publicText(r.Virus)})
		case Refuse:
			code := r.Code
			if code < 500 || code > 599 {
				code = 550
			}
			text := publicText(r.Text)
			if text == "" {
				text = "Message refused by content filter"
			}
			cause := "spam"
			if r.Kind == Filter {
				cause = "milter"
			}
			consider(rRefuse, Verdict{Code: code, Enhanced: [3]int{5, 7, 1}, Permanent: true, By: r.Scanner, Cause: cause, Text: text})
		case IsSpam:
			if en.RejectScore > 0 && r.Score >= en.RejectScore {
				consider(rSpam, Verdict{Code: 550, Enhanced: [3]int{5, 7, 1}, Permanent: true, By: r.Scanner, Cause: "spam",
					Text: fmt.Sprintf("Message refused as spam (score %.1f, limit %.1f)", r.Score, en.RejectScore)})
			}
		case Defer:
			text := publicText(r.Text)
			if text == "" {
				text = "Message deferred by content filter, try again later"
				if r.Action == "greylist" || r.Action == "soft reject" {
					text = "Greylisted (" + r.Action + " by " + publicName(r) + "), try again later"
				}
			}
			consider(rDefer, Verdict{Code: 451, Enhanced: [3]int{4, 7, 1}, By: r.Scanner, Cause: "greylist", Text: text})
		case Failed, Skipped:
			if r.Status == Skipped && (r.Cause == CauseSize || r.Cause == CauseScannerSkip) {
				// Skipped on purpose (our own limit, or the scanner's own
				// settings), stated in the header, the log and a metric.
				continue
			}
			switch en.OnFailure {
			case PolicyReject:
				consider(rFailReject, Verdict{Code: 554, Enhanced: [3]int{5, 7, 0}, Permanent: true, By: r.Scanner, Cause: "policy",
					Text: "Message could not be scanned (" + publicName(r) + ": " + r.Cause + ") and is refused by policy"})
			case PolicyTempfail:
				consider(rFailTemp, Verdict{Code: 451, Enhanced: [3]int{4, 7, 1}, By: r.Scanner, Cause: "policy",
					Text: "Message could not be scanned now (" + publicName(r) + ": " + r.Cause + "), try again later"})
			}
		}
	}
	if best == rNone {
		bv.Hold = hold
	}
	return bv
}

// publicName names the scanner in an SMTP reply: a milter's address is
// ours to know, not the client's.
func publicName(r *Result) string {
	if r.Kind == Filter {
		return "milter"
	}
	return r.Scanner
}

// publicText keeps a scanner's text printable and short for an SMTP reply.
func publicText(s string) string {
	s = publicTextLong(s)
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.TrimSpace(s)
}

// Coverage is the value of X-Ebb-Scan: every selected scanner with what it
// found, or why it did not scan and which policy decided.
func (rep *Report) Coverage() string {
	if len(rep.Results) == 0 {
		return "none"
	}
	var parts []string
	for i, r := range rep.Results {
		parts = append(parts, r.Scanner+"="+r.describe(rep.entries[i].OnFailure))
	}
	return strings.Join(parts, "; ")
}

func (r *Result) describe(pol Policy) string {
	took := strconv.FormatFloat(r.Took.Seconds(), 'f', 2, 64) + "s"
	switch r.Status {
	case Clean:
		return "clean (" + took + ")"
	case Ham, IsSpam:
		return fmt.Sprintf("%s (score %.1f/%.1f, %s)", r.Status, r.Score, r.Required, took)
	case Infected:
		return "virus (" + r.Virus + ", " + took + ")"
	case Refuse, Defer:
		return fmt.Sprintf("%s (%s, %s)", r.Status, r.Action, took)
	case Skipped:
		if r.Cause == CauseSize || r.Cause == CauseScannerSkip {
			return "skipped (" + r.Detail + ")"
		}
		return "skipped (" + r.Detail + "; policy " + string(pol) + ")"
	case Failed:
		return "unscanned (" + r.Cause + "; policy " + string(pol) + ")"
	}
	return string(r.Status)
}

// Header is what an accepted message gets in front (CRLF lines): the
// coverage header, the spam headers in SpamAssassin's conventions (the
// ones people's filters and Sieve's spamtest read), rspamd's, and what
// milters asked to add.
func (rep *Report) Header() string {
	var b strings.Builder
	field(&b, "X-Ebb-Scan", rep.Coverage())
	spamFlag, status := false, false
	for _, r := range rep.Results {
		if r.Kind == Spam && (r.Status == Ham || r.Status == IsSpam) {
			yes := "No"
			if r.Status == IsSpam {
				yes, spamFlag = "Yes", true
			}
			if !status {
				// The first spam scanner's score in SpamAssassin's
				// form, the one filters and Sieve's spamtest read.
				status = true
				tests := r.Symbols
				if r.Scanner == "rspamd" {
					tests = nil
					for _, s := range r.Symbols {
						tests = append(tests, strings.SplitN(s, "(", 2)[0])
					}
				}
				field(&b, "X-Spam-Status", fmt.Sprintf("%s, score=%.1f required=%.1f tests=%s", yes, r.Score, r.Required, strings.Join(tests, ",")))
				field(&b, "X-Spam-Score", fmt.Sprintf("%.1f", r.Score))
			}
			if r.Scanner == "rspamd" {
				field(&b, "X-Rspamd-Action", r.Action)
				field(&b, "X-Rspamd-Score", fmt.Sprintf("%.2f / %.2f", r.Score, r.Required))
				field(&b, "X-Rspamd-Symbols", strings.Join(r.Symbols, ", "))
			}
		}
		for _, f := range r.Headers {
			field(&b, f.Name, f.Value)
		}
	}
	if spamFlag {
		field(&b, "X-Spam-Flag", "YES")
	}
	return b.String()
}

// field writes name: value folded at spaces or commas near 78 columns
// (RFC 5322 §2.2.3), with CRLF; control characters become spaces.
func field(b *strings.Builder, name, value string) {
	value = publicTextLong(value)
	line := name + ": "
	col := len(line)
	b.WriteString(line)
	for len(value) > 0 {
		if col+len(value) <= 78 {
			b.WriteString(value)
			break
		}
		cut := -1
		for i := min(len(value)-1, 78-col); i > 0; i-- {
			if value[i] == ' ' || value[i] == ',' {
				cut = i
				break
			}
		}
		if cut <= 0 {
			// No place to fold before 78: fold at the next one.
			cut = strings.IndexAny(value, " ,")
			if cut <= 0 {
				b.WriteString(value)
				break
			}
		}
		if value[cut] == ',' {
			cut++
		}
		b.WriteString(value[:cut])
		value = strings.TrimLeft(value[cut:], " ")
		if value == "" {
			break
		}
		b.WriteString("\r\n\t")
		col = 1
	}
	b.WriteString("\r\n")
}

func publicTextLong(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
