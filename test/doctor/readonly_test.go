package doctor

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

// tree lists every path below dir with its owner and mode.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		st := fi.Sys().(*syscall.Stat_t)
		out = append(out, fmt.Sprintf("%s %d:%d %o", p, st.Uid, st.Gid, fi.Mode()))
		return nil
	})
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// Commands that only read, run as root, create and chown nothing (issue 21,
// item 5): ebb user list with a mistyped server.data_dir made an empty
// database and said ok; doctor and ebb deliver -d left a root-owned data
// directory. A missing database is named with its path and the setting
// that chose it.
func TestReadOnlyCommandsCreateNothing(t *testing.T) {
	t.Parallel()
	harness.RequireRoot(t)
	u := harness.Unprivileged(t)
	dir := harness.Dir(t)
	conf := filepath.Join(dir, "ebb.toml")
	data := filepath.Join(dir, "ebbb") // the typo: nothing there
	os.WriteFile(conf, []byte(harness.ConfHeadAt("mx.example.test", u.Name, data, filepath.Join(dir, "mail"), filepath.Join(dir, "spool"))+fmt.Sprintf(`
[sendmail]
pickup_dir = %q

[dns]
resolver = "127.0.0.1:1"
timeout = "1s"
`, filepath.Join(dir, "pickup"))), 0o644)
	msg := filepath.Join(dir, "m.eml")
	os.WriteFile(msg, []byte("From: a@example.org\r\nSubject: x\r\n\r\nhi\r\n"), 0o644)
	before := tree(t, dir)
	for _, c := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"user", "list"}, 75, []string{"cannot open the directory database " + filepath.Join(data, "directory.db"), "server.data_dir = \"" + data + "\" at " + conf + ":4"}},
		{[]string{"domain", "list"}, 75, []string{"server.data_dir"}},
		{[]string{"alias", "list"}, 75, []string{"server.data_dir"}},
		{[]string{"directory", "resolve", "a@example.test"}, 75, []string{"server.data_dir"}},
		{[]string{"user", "check", "a@example.test"}, 75, []string{"server.data_dir"}},
		{[]string{"deliver", "-d", "a@example.test"}, 75, []string{"cannot open the directory database " + filepath.Join(data, "directory.db")}},
		{[]string{"doctor"}, 1, nil},
		{[]string{"route", "--to", "a@example.test", msg}, -1, nil},
		{[]string{"mailq"}, -1, nil},
		{[]string{"explain", "a@example.test"}, -1, nil},
		{[]string{"sieve", "test", msg, msg}, -1, nil},
		{[]string{"report", "status"}, 66, []string{"cannot read the reports store " + filepath.Join(data, "reports.db"), "reports.store"}},
		{[]string{"dmarc", "report", "example.test"}, 66, []string{"reports.store"}},
		{[]string{"tlsrpt", "report", "example.test"}, 66, []string{"reports.store"}},
	} {
		cmd := exec.Command(harness.Ebb(t), append(c.args, "-c", conf)...)
		f, _ := os.Open(msg)
		cmd.Stdin = f
		r := harness.Run(t, cmd, nil)
		f.Close()
		if c.code >= 0 && r.Code != c.code {
			t.Errorf("ebb %v: exit %d, want %d\n%s%s", c.args, r.Code, c.code, r.Stdout, r.Stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(r.Stderr, w) {
				t.Errorf("ebb %v: stderr lacks %q:\n%s", c.args, w, r.Stderr)
			}
		}
		if after := tree(t, dir); after != before {
			t.Fatalf("ebb %v (as root) changed the tree:\nbefore:\n%s\nafter:\n%s", c.args, before, after)
		}
	}
}
