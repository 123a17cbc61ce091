package doctor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/envaddr"
	"github.com/ebbmail/ebb/internal/msgauth"
	"github.com/ebbmail/ebb/internal/reports"
)

// reportsChecks: the aggregate reports (docs/reports.md). The store's
// directory is writable by server.user; reports.from is at a hosted domain
// with a DKIM key (the reports go out signed, RFC 8460 §5.3); reports that
// failed to go out in the last week; and what the reports received say
// about the hosted domains: TLS sessions other senders could not make with
// our MX hosts, and sources failing DMARC as us.
func reportsChecks() []Check {
	return []Check{{Name: "reports", Run: checkReports}}
}

func checkReports(ctx context.Context, env *Env) []Finding {
	const name = "reports"
	cfg := env.Cfg
	var out []Finding
	path := cfg.ReportsStore()
	if e, _ := env.Probe.DirToBe(ctx, dirOf(path), cfg.Setting("reports.store")); e != nil {
		e.Reason += " (no report is recorded, sent or kept without it; mail flows)"
		out = append(out, Failed(name, e))
	} else {
		out = append(out, Passed(name, path, "store writable by "+env.Probe.Who()))
	}
	hosted := hostedDomains(ctx, env, true)
	if cfg.Reports.TLSSend || cfg.Reports.DMARCSend {
		out = append(out, reportsFromFinding(env, hosted)...)
	}
	st, err := reports.Open(ctx, cfg, reports.StoreOptions{ReadOnly: true})
	if err != nil {
		return out // not made yet: ebb serve makes it
	}
	defer st.Close()
	now := time.Now()
	sent, err := st.SentSince(ctx, now.Add(-7*24*time.Hour))
	if err == nil {
		ok := 0
		for _, x := range sent {
			switch x.State {
			case reports.StateFailed, reports.StateRetry:
				e := diag.New("send", "send the "+x.Kind+" report of "+x.Day+" to", x.Domain, errors.New(x.Detail))
				e.Setting = cfg.Setting("reports.from")
				e.SetFix(diag.Because("the destinations the domain publishes did not take it", diag.Say("check the detail; ebb retries a temporary failure an hour later; ebb report send --day "+x.Day+" --again sends it again")))
				out = append(out, Warned(name, e))
			case reports.StateSent:
				ok++
			}
		}
		out = append(out, Passed(name, "sent", fmt.Sprintf("%d reports sent in the last 7 days (ebb report status lists them)", ok)))
	}
	for _, d := range hosted {
		out = append(out, receivedFindings(ctx, st, d, now)...)
	}
	return out
}

func dirOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i > 0 {
		return p[:i]
	}
	return "."
}

// reportsFromFinding: the reports' sender must be at a hosted domain with
// a DKIM key, else receivers discard them.
func reportsFromFinding(env *Env, hosted []string) []Finding {
	cfg := env.Cfg
	from := cfg.ReportsFrom()
	_, domain, _ := envaddr.Split(from)
	s := cfg.Setting("reports.from")
	if !slices.Contains(hosted, domain) {
		if len(hosted) == 0 {
			return nil // no directory yet: other checks say so
		}
		e := diag.New("config", "send reports from", from, fmt.Errorf("%s is not a hosted domain, so no DKIM key of ebb's signs the reports (RFC 8460 §5.3 asks for one) and replies to it do not come here", domain))
		e.Setting = s
		e.SetFix(diag.Because("reports go out from reports.from, signed with its domain's key",
			diag.SetString(s, "postmaster@"+hosted[0]), diag.Restart(s)))
		return []Finding{Warned("reports", e)}
	}
	keys, err := msgauth.LoadKeys(cfg.DKIMKeyDir(), domain)
	if err != nil || len(keys) == 0 || !cfg.DKIM.Sign {
		why := fmt.Errorf("%s has no DKIM key in %s: the reports leave unsigned, and receivers may discard them (RFC 8460 §5.3)", domain, cfg.DKIMKeyDir())
		if !cfg.DKIM.Sign {
			why = errors.New("dkim.sign is off: the reports leave unsigned, and receivers may discard them (RFC 8460 §5.3)")
		}
		e := diag.New("config", "sign the reports from", from, why)
		e.Setting = s
		e.SetFix(diag.Steps(diag.Command("ebb", "dkim", "keygen", domain)).AndCheck("ebb dns check " + domain))
		return []Finding{Warned("reports", e)}
	}
	return []Finding{Passed("reports", from, "the reports' sender, signed with the DKIM key of "+domain)}
}

// receivedFindings: what the reports received in the last 7 days say
// about domain: a warning for TLS sessions other senders could not make
// with its MX hosts, and for sources that fail DMARC as it.
func receivedFindings(ctx context.Context, st reports.Store, domain string, now time.Time) []Finding {
	since := now.Add(-7 * 24 * time.Hour)
	var out []Finding
	if rs, err := st.ReceivedFor(ctx, reports.KindTLS, domain, since); err == nil && len(rs) > 0 {
		s := reports.SummariseTLS(domain, since, rs)
		if s.Failure > 0 {
			var what []string
			for _, f := range s.Failures {
				what = append(what, fmt.Sprintf("%d × %s at %s", f.Sessions, f.Result, f.MXHost))
			}
			e := diag.New("tls", "receive mail over TLS for", domain, fmt.Errorf("TLS reports from %s: %d of %d sessions failed (%s)",
				strings.Join(s.Reporters, ", "), s.Failure, s.Failure+s.Success, strings.Join(what, "; ")))
			e.SetFix(diag.Steps(diag.Say("ebb tlsrpt report " + domain + " shows the failures; ebb dns check " + domain + " shows the records (MTA-STS, TLSA) they are judged by")))
			out = append(out, Warned("reports", e))
		} else {
			out = append(out, Passed("reports", domain, fmt.Sprintf("TLS reports from %s: all %d sessions succeeded", strings.Join(s.Reporters, ", "), s.Success)))
		}
	}
	if rs, err := st.ReceivedFor(ctx, reports.KindDMARC, domain, since); err == nil && len(rs) > 0 {
		s := reports.SummariseDMARC(domain, since, rs)
		msg := fmt.Sprintf("DMARC reports from %s: %d messages as %s, %d pass, %d fail from %d sources (ebb dmarc report %s)",
			strings.Join(s.Reporters, ", "), s.Messages, domain, s.Pass, s.Fail, len(s.Sources), domain)
		out = append(out, Passed("reports", domain, msg))
	}
	return out
}
