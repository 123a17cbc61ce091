package relay

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/srs"
	"github.com/ebbmail/ebb/test/harness"
)

// ebb's SRS addresses and postsrsd's (libsrs2) are the same scheme: with
// one secret and domain, each forward the same way, and each reverses the
// other's SRS0 and SRS1 addresses. A host that replaces postsrsd with ebb
// keeps the bounces to addresses made before.
func TestSRSInteroperatesWithPostsrsd(t *testing.T) {
	t.Parallel()
	harness.RequireRoot(t)
	harness.Install(t, "postsrsd")
	dir := harness.Dir(t)
	secret := filepath.Join(dir, "srs.secret")
	os.WriteFile(secret, []byte("shared-secret-42\n"), 0o600)
	fport, rport := harness.FreePort(t), harness.FreePort(t)
	cmd := exec.Command("/usr/sbin/postsrsd", "-s", secret, "-d", "fwd.example", "-l", "127.0.0.1", "-4",
		"-f", fmt.Sprint(fport), "-r", fmt.Sprint(rport), "-u", "nobody")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	harness.WaitTCP(t, fmt.Sprintf("127.0.0.1:%d", rport), "", 10*time.Second)

	// Postfix's tcp_table protocol: "get KEY" → "200 VALUE" or "500 ...".
	lookup := func(port int, key string) string {
		t.Helper()
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "get %s\n", key)
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.TrimSpace(line)
	}
	rw, err := srs.New(srs.Config{Domain: "fwd.example", Secrets: []string{"shared-secret-42"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, sender := range []string{"alice@orig.example", "Bob.Smith@Orig.Example", "x+tag@orig.example",
		"SRS0=abcd=XY=first.example=carol@hop.example"} {
		theirs := strings.TrimPrefix(lookup(fport, sender), "200 ")
		ours, err := rw.Forward(sender)
		if err != nil || ours != theirs {
			t.Errorf("forward %s: ebb %q, postsrsd %q (%v)", sender, ours, theirs, err)
			continue
		}
		back, err := rw.Reverse(theirs)
		want := sender // an SRS1 reverses to the first forwarder's SRS0 address: the sender here
		if err != nil || back != want {
			t.Errorf("ebb reverses postsrsd's %q to %q, %v; want %q", theirs, back, err, want)
		}
		if got := lookup(rport, ours); got != "200 "+want {
			t.Errorf("postsrsd reverses ebb's %q to %q, want %q", ours, got, want)
		}
	}
	// A forged one: both refuse.
	forged := "SRS0=AAAA=AA=orig.example=alice@fwd.example"
	if _, err := rw.Reverse(forged); err == nil {
		t.Error("ebb reversed a forged address")
	}
	if got := lookup(rport, forged); strings.HasPrefix(got, "200") {
		t.Errorf("postsrsd reversed a forged address: %q", got)
	}
}
