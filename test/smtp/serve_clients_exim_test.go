package smtp

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// Exim, a real client with CHUNKING (RFC 3030), sends to ebb serve: its
// smtp transport uses BDAT when the server offers CHUNKING, and ebb must
// store the message as sent. Exim (exim4-daemon-light) and Postfix are
// both the MTA, so Exim is installed in a throwaway copy of this machine
// (harness.ThrowawayRoot), from the packages test/run-all.sh downloads
// beforehand (test/packages-throwaway.txt; the copy has no network).
func TestClientsEximSendsWithBDAT(t *testing.T) {
	t.Parallel() // here it waits for its run in a throwaway root, which is alone there
	if !harness.ThrowawayRoot(t) {
		return
	}
	if out, _ := exec.Command("dpkg-query", "-W", "-f=${Status}", "exim4-daemon-light").Output(); !strings.Contains(string(out), "install ok installed") {
		if debs, _ := filepath.Glob("/var/cache/apt/archives/exim4-daemon-light_*.deb"); len(debs) == 0 {
			t.Fatalf("exim4-daemon-light is not in apt's cache, and this throwaway root has no network: " +
				"test/run-all.sh downloads test/packages-throwaway.txt (or: apt-get install --download-only exim4-daemon-light)")
		}
		harness.AptGet(t, "install", "--no-download", "--no-install-recommends", "exim4-daemon-light")
	}
	e := harness.NewServeEnv(t, harness.ServeOpts{})
	dir := harness.Dir(t)
	spool := filepath.Join(dir, "exim")
	os.MkdirAll(spool, 0o750)
	if out, err := exec.Command("chown", "Debian-exim:Debian-exim", spool).CombinedOutput(); err != nil {
		t.Fatalf("chown the Exim spool: %v %s", err, out)
	}
	conf := filepath.Join(dir, "exim.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`primary_hostname = client.example
spool_directory = %[1]s
log_file_path = %[1]s/%%slog
exim_user = Debian-exim
exim_group = Debian-exim
keep_environment =
# No IPv6 lookups: Exim would ask the resolver for 127.0.0.1 as an IPv6
# name (gethostbyname2 AF_INET6), and the tests use no host resolver.
disable_ipv6 = true
begin routers
to_ebb:
  driver = manualroute
  domains = *
  route_list = * 127.0.0.1 byname
  self = send
  transport = to_ebb
begin transports
to_ebb:
  driver = smtp
  port = %[2]s
  allow_localhost
  hosts_try_chunking = *
  hosts_avoid_tls = *
begin retry
* * F,1m,1m
`, spool, strings.Split(e.SMTP, ":")[1])), 0o644)

	// A message of several buffers, with lines that a dot-stuffing DATA
	// would have to change: with BDAT they go as they are (-oi: a line
	// of one dot does not end Exim's input).
	var b strings.Builder
	b.WriteString("From: Sender <sender@client.example>\nTo: alice@example.test\nSubject: chunked by Exim\nMessage-ID: <bdat.1@client.example>\n\n")
	for i := 0; len(b.String()) < 300<<10; i++ {
		fmt.Fprintf(&b, "line %06d .. a dot line follows\n.\n", i)
	}
	b.WriteString("the end\n")
	cmd := exec.Command("exim4", "-C", conf, "-d+transport", "-odf", "-oi", "-f", "sender@client.example", "--", "alice@example.test")
	cmd.Stdin = strings.NewReader(b.String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("exim4: %v\n%s", err, harness.Tail(string(out), 60))
	}
	trace := string(out)
	bdat := regexp.MustCompile(`SMTP[>|+]> BDAT [0-9]+`).FindAllString(trace, -1)
	if len(bdat) == 0 || !regexp.MustCompile(`SMTP[>|+]> BDAT [0-9]+ LAST`).MatchString(trace) {
		t.Fatalf("Exim did not send with BDAT:\n%s", harness.Tail(trace, 60))
	}
	t.Logf("Exim sent %v", bdat)
	if regexp.MustCompile(`SMTP[>|+]> DATA`).MatchString(trace) {
		t.Errorf("Exim fell back to DATA:\n%s", harness.Tail(trace, 60))
	}
	e.WaitCount("alice", 1, 60*time.Second)
	got := e.Messages("alice")[0]
	body := strings.ReplaceAll(b.String()[strings.Index(b.String(), "\n\n")+2:], "\n", "\r\n")
	if !strings.Contains(got, "Subject: chunked by Exim") || !strings.HasSuffix(strings.ReplaceAll(got, "\r\n", "\n"), strings.ReplaceAll(body, "\r\n", "\n")) {
		t.Errorf("the stored message is not what Exim sent (%d bytes stored, body %d bytes):\n%s", len(got), len(body), harness.Tail(got, 10))
	}
}
