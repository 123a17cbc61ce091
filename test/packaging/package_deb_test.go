package packaging

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// The Debian package, as an administrator meets it: build it, install it
// with apt, find the mail user and its directories, start the daemon exactly
// as the systemd unit would (its ExecStartPre, ExecStart, User and ambient
// capability, via setpriv: there is no systemd here), send with swaks and
// sendmail, upgrade N → N+1 with a queued message, a changed conffile and
// users in place, and purge.
//
// It all happens in a throwaway copy of this machine (harness.ThrowawayRoot:
// a mount namespace of its own over an overlay, a network with only
// loopback): apt replaces postfix there as it would on a server (ebb
// Conflicts with, Provides and Replaces mail-transport-agent, as every
// Debian MTA does), and the host's packages, users and /var/lib stay as they
// were — on a server with ebb installed too: that one is purged in the copy
// first.
func TestPackageInstallServeUpgradePurge(t *testing.T) {
	// Not t.Parallel: it re-runs itself in a throwaway root, apt and all: alone.
	if !harness.ThrowawayRoot(t) {
		return
	}
	harness.Install(t, "lintian", "swaks", "file", "man-db")
	if exec.Command("dpkg-query", "-W", "-f=${Status}", "ebb").Run() == nil {
		t.Logf("this machine has an ebb package: purged in the throwaway root, so that the test installs afresh")
		harness.AptGet(t, "purge", "ebb")
	}
	// What the package's purge keeps (a queue with messages in it) or ebb
	// run as root with the built-in defaults left behind (the state of the
	// machine's own ebb, of an administrator trying it): gone from the copy,
	// so that the test sees what the package makes.
	for _, p := range []string{"/etc/ebb", "/var/lib/ebb", "/var/spool/ebb", "/var/spool/ebb-pickup"} {
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
	}
	hadMailRoot := ""
	if _, err := os.Stat("/var/vmail"); err == nil {
		hadMailRoot = harness.DescribeOwner(t, "/var/vmail")
	}
	varMail := harness.DescribeOwner(t, "/var/mail")
	dir := harness.Dir(t)
	build := func(version string) string {
		cmd := exec.Command(filepath.Join(harness.RepoRoot(), "packaging", "build-deb.sh"),
			"--version", version, "--out", dir, "--binary", harness.Ebb(t), "--compress", "gzip")
		r := harness.Run(t, cmd, nil)
		if r.Code != 0 {
			t.Fatalf("build-deb.sh %s: exit %d\n%s%s", version, r.Code, r.Stdout, r.Stderr)
		}
		return strings.TrimSpace(r.Stdout)
	}
	debN, debN1 := build("0.1.0"), build("0.1.1")
	if filepath.Base(debN) != "ebb_0.1.0_amd64.deb" {
		t.Fatalf("package named %s", debN)
	}
	// lintian is slow (half a minute): it runs while the rest goes on.
	// The release build (build-deb.sh without --binary) is static, built
	// with CGO_ENABLED=0; the test packages the binary the test command
	// built, which is dynamically linked without PIE flags: those two
	// hardening tags speak of the test's build, not of the package's.
	lintArgs := []string{"--fail-on", "error,warning"}
	if out, _ := exec.Command("file", "-L", harness.Ebb(t)).Output(); strings.Contains(string(out), "dynamically linked") {
		lintArgs = append(lintArgs, "--suppress-tags", "hardening-no-pie,hardening-no-relro")
	}
	lint := exec.Command("lintian", append(lintArgs, debN)...)
	var lintOut bytes.Buffer
	lint.Stdout, lint.Stderr = &lintOut, &lintOut
	if err := lint.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := lint.Wait(); err != nil {
			t.Errorf("lintian: %v\n%s", err, lintOut.String())
		}
	}()

	// The MTA relations, and what apt would do with them.
	for _, f := range []string{"Provides", "Conflicts", "Replaces"} {
		out, _ := exec.Command("dpkg-deb", "-f", debN, f).Output()
		if strings.TrimSpace(string(out)) != "mail-transport-agent" {
			t.Errorf("%s: %q, want mail-transport-agent", f, out)
		}
	}
	hadPostfix := exec.Command("dpkg-query", "-W", "-f=${Status}", "postfix").Run() == nil

	// Install N as an administrator would: apt replaces the MTA.
	if out := harness.AptGet(t, "install", "--no-install-recommends", debN); hadPostfix && !strings.Contains(out, "Removing postfix") {
		t.Errorf("apt-get install %s: postfix not replaced as the MTA:\n%s", debN, out)
	}

	vmail := harness.EnsureUser(t, "vmail")
	if vmail.UID >= 1000 {
		t.Errorf("vmail has uid %d, want a system user", vmail.UID)
	}
	for _, c := range []struct {
		path string
		mode os.FileMode
		uid  int
	}{
		{"/var/spool/ebb", 0o700, vmail.UID},
		{"/var/spool/ebb-pickup", 0o733 | os.ModeSetgid | os.ModeSticky, vmail.UID},
		{"/var/lib/ebb", 0o750, vmail.UID},
		{"/etc/ebb/ebb.toml", 0o644, 0},
		{"/usr/sbin/ebb", 0o755, 0},
	} {
		st, err := os.Stat(c.path)
		if err != nil {
			t.Errorf("%s: %v", c.path, err)
			continue
		}
		mode := st.Mode() & (os.ModePerm | os.ModeSetgid | os.ModeSticky)
		if uid := int(st.Sys().(*syscall.Stat_t).Uid); mode != c.mode || uid != c.uid {
			t.Errorf("%s: mode %v uid %d, want %v uid %d", c.path, mode, uid, c.mode, c.uid)
		}
	}
	// The mail root is made when missing, and never changed after: it
	// holds the mail.
	if hadMailRoot != "" {
		if got := harness.DescribeOwner(t, "/var/vmail"); got != hadMailRoot {
			t.Errorf("/var/vmail changed from %s to %s: the package must leave an existing mail root as it is", hadMailRoot, got)
		}
	} else if got, want := harness.DescribeOwner(t, "/var/vmail"), fmt.Sprintf("%d:%d %o", vmail.UID, vmail.GID, syscall.S_IFDIR|0o750); got != want {
		t.Errorf("/var/vmail: %s, want %s", got, want)
	}
	if got := harness.DescribeOwner(t, "/var/mail"); got != varMail {
		t.Errorf("/var/mail changed from %s to %s: the package must never touch it", varMail, got)
	}
	for _, p := range []string{"/usr/sbin/sendmail", "/usr/bin/mailq"} {
		if real, err := filepath.EvalSymlinks(p); err != nil || real != "/usr/sbin/ebb" {
			t.Errorf("%s resolves to %q (%v), want /usr/sbin/ebb", p, real, err)
		}
	}
	if out, _ := exec.Command("dpkg-query", "-W", "-f=${Conffiles}", "ebb").Output(); !strings.Contains(string(out), "/etc/ebb/ebb.toml") {
		t.Errorf("conffiles: %q", out)
	}
	if out, err := exec.Command("systemd-analyze", "verify", "/lib/systemd/system/ebb.service").CombinedOutput(); err != nil {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}

	// The administrator's changes: loopback listeners for the test. A
	// changed conffile must survive the upgrade.
	conf := "/etc/ebb/ebb.toml"
	b, _ := os.ReadFile(conf)
	smtpAddr := "127.0.12.1:25"
	edited := strings.Replace(string(b), `listen = ["0.0.0.0:25"]`, fmt.Sprintf("listen = [%q]", smtpAddr), 1)
	edited = strings.Replace(edited, `listen = "127.0.0.1:9733"`, fmt.Sprintf(`listen = "127.0.12.1:%d"`, harness.FreePort(t)), 1)
	edited = strings.Replace(edited, `hostname = ""`, `hostname = "mx.example.test"`, 1)
	edited = strings.Replace(edited, `argon2_memory = "64M"`, `argon2_memory = "8M"`, 1)
	// The resolver the daemon and doctor ask: the test's DNS server on this
	// root's loopback, never the host's resolver. It publishes what an
	// administrator would for the domain: the host's address and its
	// reverse, MX, SPF, DMARC.
	dns := harness.StartDNS(t)
	dns.MustAdd("mx.example.test. A 127.0.12.1", "1.12.0.127.in-addr.arpa. PTR mx.example.test.", "example.test. MX 10 mx.example.test.",
		`example.test. TXT "v=spf1 a:mx.example.test -all"`, `_dmarc.example.test. TXT "v=DMARC1; p=reject"`)
	edited = strings.Replace(edited, `resolver = ""`, fmt.Sprintf("resolver = %q", dns.Addr()), 1)
	if edited == string(b) || !strings.Contains(edited, smtpAddr) {
		t.Fatalf("could not edit %s", conf)
	}
	os.WriteFile(conf, []byte(edited), 0o644)

	// The quick start, as root, with the installed program.
	ebb := func(stdin []byte, args ...string) harness.Result {
		t.Helper()
		r := harness.Run(t, exec.Command("/usr/sbin/ebb", args...), stdin)
		if r.Code != 0 {
			t.Fatalf("ebb %v: exit %d\n%s%s", args, r.Code, r.Stdout, r.Stderr)
		}
		return r
	}
	ebb(nil, "domain", "add", "example.test")
	ebb([]byte("alice-pw\n"), "user", "add", "alice@example.test")
	ebb(nil, "alias", "add", "postmaster@example.test", "alice@example.test") // RFC 5321 §4.5.1; doctor warns without one
	if uid := int(harness.StatT(t, "/var/lib/ebb/directory.db").Uid); uid != vmail.UID {
		t.Errorf("directory.db made by root's ebb domain add has uid %d, want vmail's %d", uid, vmail.UID)
	}

	unit := parseUnit(t, "/lib/systemd/system/ebb.service")
	srv := startAsUnit(t, unit, filepath.Join(dir, "serve.log"))
	harness.WaitTCP(t, smtpAddr, "220", 15*time.Second)
	maildirNew := "/var/vmail/example.test/alice/Maildir/new"
	if _, err := os.Stat(maildirNew); err == nil {
		t.Fatalf("%s exists before the test: this machine's mail root holds mail for alice@example.test, which the test's would mix with", maildirNew)
	}
	if r := harness.Swaks(t, "--server", smtpAddr, "--from", "sender@example.org", "--to", "alice@example.test", "--h-Subject", "package swaks"); r.Code != 0 {
		t.Fatalf("swaks: exit %d\n%s", r.Code, r.Stdout)
	}
	waitFiles(t, maildirNew, 1, srv)
	user := harness.Unprivileged(t)
	msg := []byte("Subject: from sendmail\n\nhello\n")
	if r := harness.Run(t, harness.AsUser(exec.Command("/usr/sbin/sendmail", "alice@example.test"), user), msg); r.Code != 0 {
		t.Fatalf("/usr/sbin/sendmail as %s: exit %d %s", user.Name, r.Code, r.Stderr)
	}
	waitFiles(t, maildirNew, 2, srv)
	if uid := int(harness.StatT(t, maildirNew).Uid); uid != vmail.UID {
		t.Errorf("%s has uid %d, want vmail", maildirNew, uid)
	}
	if r := harness.Run(t, exec.Command("/usr/bin/mailq"), nil); r.Code != 0 {
		t.Errorf("mailq: exit %d %s", r.Code, r.Stderr)
	}
	doctor := harness.Run(t, exec.Command("/usr/sbin/ebb", "doctor", "--json"), nil)
	var report struct {
		Failed   bool
		Findings []struct{ Check, Status, Subject, Message string }
	}
	if err := json.Unmarshal([]byte(doctor.Stdout), &report); err != nil || len(report.Findings) == 0 {
		t.Errorf("ebb doctor --json printed no findings (%v): exit %d\n%s%s", err, doctor.Code, doctor.Stdout, doctor.Stderr)
	} else if report.Failed || doctor.Code != 0 {
		t.Errorf("ebb doctor --json on the installed package: exit %d, failed=%v; its findings that are not ok follow", doctor.Code, report.Failed)
	}
	for _, f := range report.Findings {
		// The package makes no DKIM key: dkim.keys says so, and so does
		// every check that needs one (reports: the reports leave unsigned).
		// That warning is the truth.
		noKey := f.Status == "warn" && (f.Check == "dkim.keys" || strings.Contains(f.Message, "no DKIM key"))
		if f.Status != "ok" && !noKey {
			t.Errorf("ebb doctor on the installed package: %s %s %s: %s", f.Status, f.Check, f.Subject, f.Message)
		}
	}
	srv.stop(t)

	// Queue a message while the daemon is down, then upgrade to N+1.
	if r := harness.Run(t, harness.AsUser(exec.Command("/usr/sbin/sendmail", "alice@example.test"), user), []byte("Subject: queued across the upgrade\n\nx\n")); r.Code != 0 {
		t.Fatalf("sendmail with the daemon down: exit %d %s", r.Code, r.Stderr)
	}
	out := harness.AptGet(t, "install", "--no-install-recommends", debN1)
	if !regexp.MustCompile(`schema at version \d+, up to date|schema migrated`).MatchString(out) {
		t.Errorf("the upgrade did not run the schema migration:\n%s", out)
	}
	if v, _ := exec.Command("dpkg-query", "-W", "-f=${Version}", "ebb").Output(); string(v) != "0.1.1" {
		t.Errorf("installed version %q after the upgrade", v)
	}
	if b, _ := os.ReadFile(conf); string(b) != edited {
		t.Errorf("the upgrade changed the administrator's %s", conf)
	}
	if r := ebb(nil, "user", "list"); !strings.Contains(r.Stdout, "alice@example.test") {
		t.Errorf("alice lost in the upgrade:\n%s", r.Stdout)
	}
	srv = startAsUnit(t, unit, filepath.Join(dir, "serve2.log"))
	waitFiles(t, maildirNew, 3, srv)
	srv.stop(t)

	// Purge: configuration and state go, the mail stays.
	harness.AptGet(t, "purge", "ebb")
	for _, p := range []string{"/etc/ebb", "/var/lib/ebb", "/var/spool/ebb", "/var/spool/ebb-pickup", "/usr/sbin/ebb",
		"/etc/systemd/system/multi-user.target.wants/ebb.service"} {
		if _, err := os.Lstat(p); err == nil {
			out, _ := exec.Command("find", p, "-ls").CombinedOutput()
			t.Errorf("%s remains after purge:\n%s", p, out)
		}
	}
	if n, _ := filepath.Glob(filepath.Join(maildirNew, "*")); len(n) != 3 {
		t.Errorf("purge removed mail: %d messages left in %s", len(n), maildirNew)
	}
}

// unitFile is what the test takes from the [Service] section.
type unitFile struct {
	User, Group         string
	ExecStartPre, Exec  []string
	AmbientCapabilities string
}

func parseUnit(t *testing.T, path string) unitFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var u unitFile
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		switch k {
		case "User":
			u.User = v
		case "Group":
			u.Group = v
		case "ExecStartPre":
			u.ExecStartPre = strings.Fields(v)
		case "ExecStart":
			u.Exec = strings.Fields(v)
		case "AmbientCapabilities":
			u.AmbientCapabilities = v
		}
	}
	if u.User == "" || len(u.Exec) == 0 || u.AmbientCapabilities != "CAP_NET_BIND_SERVICE" {
		t.Fatalf("%s: User=%q ExecStart=%q AmbientCapabilities=%q", path, u.User, u.Exec, u.AmbientCapabilities)
	}
	return u
}

// unitProcess is the daemon started as the unit would start it.
type unitProcess struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func (u unitFile) setpriv(argv []string) *exec.Cmd {
	args := []string{"--reuid=" + u.User, "--regid=" + u.Group, "--init-groups",
		"--inh-caps=+net_bind_service", "--ambient-caps=+net_bind_service", "--"}
	return exec.Command("setpriv", append(args, argv...)...)
}

func startAsUnit(t *testing.T, u unitFile, logPath string) *unitProcess {
	t.Helper()
	if r := harness.Run(t, u.setpriv(u.ExecStartPre), nil); r.Code != 0 {
		t.Fatalf("ExecStartPre %v as %s: exit %d\n%s%s", u.ExecStartPre, u.User, r.Code, r.Stdout, r.Stderr)
	}
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	p := &unitProcess{cmd: u.setpriv(u.Exec), log: logPath, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); logf.Close(); close(p.done) }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *unitProcess) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Errorf("the daemon did not stop on SIGTERM within 20 s")
	}
}

func (p *unitProcess) Log() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

func waitFiles(t *testing.T, dir string, n int, p *unitProcess) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, _ := filepath.Glob(filepath.Join(dir, "*"))
		if len(got) >= n {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("the daemon exited; log:\n%s", p.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d files in %s after 20 s, want %d; log:\n%s", len(got), dir, n, p.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
