package doctor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/scan"
)

// scanChecks are the checks of the scanners (issue 13): each configured
// scanner answers PING, finds its test string (EICAR for clamd, GTUBE for
// spamd and rspamd), and its own size limit is not below ours.
func scanChecks() []Check {
	return []Check{{Name: "scan", Run: checkScanners}}
}

// The test strings are built from two halves so that no file of ebb's
// (source or binary's data) holds them whole and trips a scanner.
func eicar() string {
	return `X5O!P%@AP[4\PZX54(P^)7CC)7}$` + `EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`
}

func gtube() string {
	return `XJS*C4JDBQADN1.NSBN3*2IDNEN*` + `GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X`
}

func testMessage(subject, body string) string {
	return "From: ebb doctor <postmaster@localhost>\r\nTo: postmaster@localhost\r\nSubject: " + subject +
		"\r\nMessage-ID: <ebb-doctor-test@localhost>\r\nDate: " + time.Now().UTC().Format(time.RFC1123Z) +
		"\r\n\r\n" + body + "\r\n"
}

func scanKey(s scan.Scanner) string {
	switch s.Name() {
	case "clamd", "spamd", "rspamd":
		return "scan." + s.Name()
	}
	return "scan.milter"
}

func checkScanners(ctx context.Context, env *Env) []Finding {
	const name = "scan"
	cfg := env.Cfg
	entries, err := scan.FromConfig(cfg, "localhost")
	if err != nil {
		e := diag.New("config", "set up the scanners", "", err)
		e.Hint = "fix scan.milter.addresses (inet:host:port or unix:/path)"
		return []Finding{Failed(name, e)}
	}
	if len(entries) == 0 {
		return []Finding{Passed(name, "", "no scanner configured (scan.clamd.address, scan.spamd.address, scan.rspamd.address, scan.milter.addresses are empty): mail is not scanned")}
	}
	var out []Finding
	for _, en := range entries {
		if f := checkSocketAccess(env, en); f != nil {
			// Root's probe below would pass where ebb serve is refused.
			out = append(out, *f)
			continue
		}
		out = append(out, checkScanner(ctx, cfg, en)...)
	}
	// The running daemon's breakers: a scanner it has stopped asking.
	state := filepath.Join(cfg.Server.DataDir, scan.BreakerFile)
	for _, b := range scan.OpenBreakers(state, time.Now()) {
		e := diag.New("scan", "have ebb serve ask "+b.Scanner, state,
			fmt.Errorf("its circuit breaker is open until %s after %d failures in a row (%s); meanwhile messages get the scanner's on_failure policy", b.Until.Format(time.RFC3339), b.Failures, b.LastErr))
		e.Setting = cfg.Setting("scan.breaker_interval")
		e.Hint = "make the scanner answer (see above); the daemon tries it again when the interval has passed"
		out = append(out, Warned(name, e))
	}
	return out
}

// checkSocketAccess: a scanner's Unix socket that server.user may not
// connect to (the probes run as root, who may).
func checkSocketAccess(env *Env, en scan.Entry) *Finding {
	u := env.Probe.As
	if u == nil {
		return nil
	}
	s := en.Scanner
	addr := addrOf(s)
	key := scanKey(s)
	who := &diag.Identity{UID: u.UID, User: u.Name, GID: u.GID, Group: diag.GroupName(u.GID)}
	found := scan.SocketDenied(strings.TrimPrefix(addr, "unix:"), who)
	if found == nil {
		return nil
	}
	addrKey := key + ".address"
	if key == "scan.milter" {
		addrKey = "scan.milter.addresses"
	}
	e := diag.New("connect", "reach "+s.Name()+" as "+u.Name+" at", addr, syscall.EACCES)
	e.Who, e.Found = who, found
	e.Setting = env.Cfg.Setting(addrKey)
	e.SetFix(scan.SocketFix(found, strings.TrimPrefix(addr, "unix:"), s.Name(), key, who, env.Cfg.Setting(addrKey)))
	f := Failed("scan", e)
	return &f
}

func checkScanner(ctx context.Context, cfg *config.Config, en scan.Entry) []Finding {
	const name = "scan"
	s := en.Scanner
	key := scanKey(s)
	addrKey := key + ".address"
	if key == "scan.milter" {
		addrKey = "scan.milter.addresses"
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err != nil {
		e := diag.New("connect", "reach "+s.Name(), addrOf(s), err)
		e.Setting = cfg.Setting(addrKey)
		e.SetFix(diag.Because(fmt.Sprintf("until it answers, every message gets %s.on_failure = %q", key, en.OnFailure),
			diag.Say(fmt.Sprintf("start %s, or correct %s", s.Name(), addrKey))))
		return []Finding{Failed(name, e)}
	}
	out := []Finding{Passed(name, addrOf(s), s.Name()+" answers")}

	var body, want, test string
	switch s.Kind() {
	case scan.Virus:
		body, test = eicar(), "EICAR"
	case scan.Spam:
		body, test = gtube(), "GTUBE"
	default:
		return out // a milter may be anything: answering negotiation is the test
	}
	r := s.Scan(ctx, &scan.Message{Body: testMessage("ebb doctor "+test+" test", body), From: "postmaster@localhost",
		Rcpts: []string{"postmaster@localhost"}, IP: "127.0.0.1", Helo: "localhost", ID: "doctor"})
	switch {
	case r.Status == scan.Failed:
		e := diag.New("scan", "scan the "+test+" test message with "+s.Name(), addrOf(s), r.Err)
		e.Setting = cfg.Setting(addrKey)
		e.SetFix(diag.Steps(diag.Say("look at " + s.Name() + "'s log; ebb scan FILE shows the whole exchange")))
		out = append(out, Failed(name, e))
	case s.Kind() == scan.Virus && r.Status != scan.Infected:
		want = "a virus"
		fallthrough
	case s.Kind() == scan.Spam && r.Status != scan.IsSpam && r.Status != scan.Refuse:
		if want == "" {
			want = "spam"
		}
		e := diag.New("scan", "see the "+test+" test string as "+want, addrOf(s),
			fmt.Errorf("%s answered %s", s.Name(), r.Status))
		e.Hint = "its signatures or rules are not loaded (freshclam for clamd; the rules in /usr/share/spamassassin for spamd)"
		out = append(out, Failed(name, e))
	default:
		what := r.Virus
		if what == "" {
			what = fmt.Sprintf("score %.1f", r.Score)
		}
		out = append(out, Passed(name, addrOf(s), fmt.Sprintf("%s finds the %s test string (%s)", s.Name(), test, what)))
	}
	if s.Name() == "clamd" {
		out = append(out, checkClamdLimit(cfg, en)...)
	}
	return out
}

func addrOf(s scan.Scanner) string {
	switch x := s.(type) {
	case *scan.Clamd:
		return x.Addr
	case *scan.Spamd:
		return x.Addr
	case *scan.Rspamd:
		return x.Addr
	case *scan.Milter:
		return x.Addr
	}
	return s.Name()
}

// checkClamdLimit compares scan.clamd.max_size with clamd's StreamMaxLength:
// a message between the two is cut off by clamd, and gets the failure
// policy instead of a scan.
func checkClamdLimit(cfg *config.Config, en scan.Entry) []Finding {
	const name = "scan"
	path := cfg.Scan.Clamd.Config
	if path == "" {
		return nil
	}
	limit, where, err := clamdStreamMax(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && cfg.IsDefault("scan.clamd.config") {
			return nil // clamd runs elsewhere; nothing to compare
		}
		e := diag.PathError("ebb doctor", "open", "read clamd's config for StreamMaxLength", path, err, cfg.Setting("scan.clamd.config"))
		return []Finding{Warned(name, e)}
	}
	if en.MaxSize > limit {
		e := diag.New("compare", "scan messages up to scan.clamd.max_size", path,
			fmt.Errorf("scan.clamd.max_size %d > clamd's StreamMaxLength %d (%s): messages between the two are refused by clamd and get scan.clamd.on_failure = %q", en.MaxSize, limit, where, en.OnFailure))
		e.Setting = cfg.Setting("scan.clamd.max_size")
		e.SetFix(diag.Steps(diag.Set(e.Setting, fmt.Sprint(limit)), diag.Reload(e.Setting)).
			OrElse(diag.Steps(diag.Say(fmt.Sprintf("raise StreamMaxLength in %s to %d and restart clamd", path, en.MaxSize)))))
		return []Finding{Warned(name, e)}
	}
	return []Finding{Passed(name, path, fmt.Sprintf("scan.clamd.max_size %d <= clamd's StreamMaxLength %d (%s)", en.MaxSize, limit, where))}
}

// clamdStreamMax reads StreamMaxLength from clamd.conf (default 100M since
// ClamAV 0.105).
func clamdStreamMax(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	limit, where := int64(100<<20), "clamd's default"
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 2 && fields[0] == "StreamMaxLength" {
			var sz config.Size
			if err := sz.UnmarshalText([]byte(fields[1])); err != nil {
				return 0, "", fmt.Errorf("line %d: %w", n, err)
			}
			limit, where = int64(sz), fmt.Sprintf("%s:%d", path, n)
		}
	}
	return limit, where, sc.Err()
}
