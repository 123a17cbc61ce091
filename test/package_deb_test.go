package test

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

// The Debian package, as an administrator meets it: build it, install it,
// find the mail user and its directories, start the daemon exactly as the
// systemd unit would (its ExecStartPre, ExecStart, User and ambient
// capability, via setpriv: there is no systemd here), send with swaks and
// sendmail, upgrade N → N+1 with a queued message, a changed conffile and
// users in place, and purge.
//
// postfix stays installed throughout, because the other tests use its
// smtp-source and smtp-sink: apt would remove it (ebb Conflicts with and
// Replaces mail-transport-agent, as every Debian MTA does — checked here
// with apt-get -s), so the test installs with dpkg --force-conflicts after
// diverting postfix's /usr/sbin/sendmail and /usr/bin/mailq to the side
// (dpkg-divert --package ebb --rename), and puts them back at the end.
func TestPackageInstallServeUpgradePurge(t *testing.T) {
	harness.RequireRoot(t)
	harness.Install(t, "lintian", "swaks", "file", "man-db")
	// One at a time on a machine: the test installs a system package, and
	// two test runs in one shared tree would install and purge it under
	// each other.
	lock, err := os.OpenFile("/run/lock/ebb-package-test.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() })
	// A run that was killed (a test timeout) left its package behind: the
	// marker says the leftovers are this test's own, so they are cleared.
	const dirty = "/run/lock/ebb-package-test.dirty"
	if b, err := os.ReadFile(dirty); err == nil {
		t.Logf("clearing what an interrupted run of this test left")
		had := strings.Fields(string(b))
		undoPackageTest(t, len(had) > 0 && had[0] == "true", len(had) > 1 && had[1] == "true")
		for _, p := range []string{"/etc/ebb", "/var/lib/ebb", "/var/spool/ebb", "/var/spool/ebb-pickup"} {
			os.Rename(p+".ebbtest-saved", p)
		}
		os.Remove(dirty)
	}
	if exec.Command("dpkg-query", "-W", "ebb").Run() == nil {
		t.Fatal("a package named ebb is installed on this machine; the test installs and purges its own, remove it first (dpkg --purge ebb)")
	}
	// ebb run as root with the built-in defaults (another test, an
	// administrator trying it) may have left its paths behind, without the
	// package: they are moved aside for the test and put back after it.
	for _, p := range []string{"/etc/ebb", "/var/lib/ebb", "/var/spool/ebb", "/var/spool/ebb-pickup"} {
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		saved := p + ".ebbtest-saved"
		if _, err := os.Lstat(saved); err == nil {
			t.Fatalf("%s and %s both exist: move one away", p, saved)
		}
		if err := os.Rename(p, saved); err != nil {
			t.Fatal(err)
		}
		t.Logf("moved %s aside to %s for the test", p, saved)
		t.Cleanup(func() {
			os.RemoveAll(p)
			if err := os.Rename(saved, p); err != nil {
				t.Errorf("put %s back: %v", p, err)
			}
		})
	}
	_, vmailErr := exec.Command("getent", "passwd", "vmail").Output()
	hadVmail := vmailErr == nil
	_, statErr := os.Stat("/var/vmail")
	hadMailRoot := statErr == nil
	os.WriteFile(dirty, []byte(fmt.Sprintf("%v %v\n", hadVmail, hadMailRoot)), 0o600)
	varMail := describeOwner(t, "/var/mail")

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
	if exec.Command("dpkg-query", "-W", "postfix").Run() == nil {
		out, _ := exec.Command("apt-get", "-s", "install", debN).CombinedOutput()
		if !strings.Contains(string(out), "Remv postfix") {
			t.Errorf("apt-get -s install: postfix not replaced as the MTA:\n%s", out)
		}
	}

	// Install N, with postfix's sendmail and mailq diverted to the side.
	t.Cleanup(func() {
		undoPackageTest(t, hadVmail, hadMailRoot)
		os.Remove(dirty)
	})
	for p, to := range diverted {
		if out, err := exec.Command("dpkg-divert", "--package", "ebb", "--divert", to, "--rename", p).CombinedOutput(); err != nil {
			t.Fatalf("dpkg-divert %s: %v\n%s", p, err, out)
		}
	}
	dpkgInstall := func(deb string) string {
		cmd := exec.Command("dpkg", "--force-conflicts", "-i", deb)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("dpkg -i %s: %v\n%s", deb, err, out)
		}
		return string(out)
	}
	dpkgInstall(debN)

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
		{"/var/vmail", 0o750, vmail.UID},
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
	if got := describeOwner(t, "/var/mail"); got != varMail {
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
	if uid := int(statT(t, "/var/lib/ebb/directory.db").Uid); uid != vmail.UID {
		t.Errorf("directory.db made by root's ebb domain add has uid %d, want vmail's %d", uid, vmail.UID)
	}

	unit := parseUnit(t, "/lib/systemd/system/ebb.service")
	srv := startAsUnit(t, unit, filepath.Join(dir, "serve.log"))
	harness.WaitTCP(t, smtpAddr, "220", 15*time.Second)
	maildirNew := "/var/vmail/example.test/alice/Maildir/new"
	if _, err := os.Stat(maildirNew); err == nil {
		t.Fatalf("%s exists before the test: a mail root left by someone else; move /var/vmail away", maildirNew)
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
	if uid := int(statT(t, maildirNew).Uid); uid != vmail.UID {
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
	json.Unmarshal([]byte(doctor.Stdout), &report)
	findings := report.Findings
	if len(findings) == 0 || report.Failed || doctor.Code != 0 {
		t.Errorf("ebb doctor --json printed no findings: exit %d\n%s%s", doctor.Code, doctor.Stdout, doctor.Stderr)
	}
	for _, f := range findings {
		// dkim.keys and auth.dns report what the DNS publishes (no key, no
		// SPF or DMARC for example.test on a test box without DNS): a
		// warning there is the truth, not a packaging fault.
		dnsReport := f.Status == "warn" && (f.Check == "dkim.keys" || f.Check == "auth.dns")
		if f.Status != "ok" && !dnsReport {
			t.Errorf("ebb doctor on the installed package: %s %s: %s", f.Check, f.Subject, f.Message)
		}
	}
	srv.stop(t)

	// Queue a message while the daemon is down, then upgrade to N+1.
	if r := harness.Run(t, harness.AsUser(exec.Command("/usr/sbin/sendmail", "alice@example.test"), user), []byte("Subject: queued across the upgrade\n\nx\n")); r.Code != 0 {
		t.Fatalf("sendmail with the daemon down: exit %d %s", r.Code, r.Stderr)
	}
	out := dpkgInstall(debN1)
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
	if out, err := exec.Command("dpkg", "--purge", "ebb").CombinedOutput(); err != nil {
		t.Fatalf("dpkg --purge: %v\n%s", err, out)
	}
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

// diverted are postfix's files the test moves aside while ebb's package
// is installed.
var diverted = map[string]string{"/usr/sbin/sendmail": "/usr/sbin/sendmail.ebbtest-orig", "/usr/bin/mailq": "/usr/bin/mailq.ebbtest-orig"}

// undoPackageTest purges the package, restores postfix's files and removes
// what the package left on purpose (the mail root, the vmail user) unless
// they were there before the test.
func undoPackageTest(t *testing.T, hadVmail, hadMailRoot bool) {
	if exec.Command("dpkg-query", "-W", "ebb").Run() == nil {
		if out, err := exec.Command("dpkg", "--purge", "ebb").CombinedOutput(); err != nil {
			t.Errorf("cleanup: dpkg --purge ebb: %v\n%s", err, out)
		}
	}
	for p := range diverted {
		if out, _ := exec.Command("dpkg-divert", "--listpackage", p).Output(); strings.TrimSpace(string(out)) != "ebb" {
			continue
		}
		if out, err := exec.Command("dpkg-divert", "--package", "ebb", "--rename", "--remove", p).CombinedOutput(); err != nil {
			t.Errorf("cleanup: dpkg-divert --remove %s: %v\n%s", p, err, out)
		}
	}
	// What a failed run's purge kept; none of it existed before.
	for _, p := range []string{"/etc/ebb", "/var/lib/ebb", "/var/spool/ebb", "/var/spool/ebb-pickup"} {
		os.RemoveAll(p)
	}
	if !hadMailRoot {
		os.RemoveAll("/var/vmail")
	}
	if !hadVmail {
		exec.Command("deluser", "--system", "vmail").Run()
		exec.Command("delgroup", "--system", "vmail").Run()
	}
}

func describeOwner(t *testing.T, p string) string {
	st := statT(t, p)
	return fmt.Sprintf("%d:%d %o", st.Uid, st.Gid, st.Mode)
}

func statT(t *testing.T, p string) *syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatalf("stat %s: %v", p, err)
	}
	return &st
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
