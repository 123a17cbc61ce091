package queue

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// The queue-tide page in a real headless Chromium (issue 15): a daemon
// with a deferred backlog (the seed's story: bob's Maildir not writable)
// serves "/" on its metrics listener; the DOM Chromium builds shows the
// depth, the cause with its count and fix, and the oldest messages with a
// link to each one's story, which reads as ebb explain. The screenshot is
// kept as an artifact.
func TestTidePageInAHeadlessBrowser(t *testing.T) {
	t.Parallel()
	harness.Install(t, "chromium")
	e := harness.NewQueueEnv(t, "")
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	conf, _ := os.ReadFile(e.Conf)
	conf = []byte(strings.Replace(string(conf), "[metrics]\nlisten = \"\"", fmt.Sprintf("[metrics]\nlisten = %q", metricsAddr), 1))
	os.WriteFile(e.Conf, conf, 0o644)

	box := e.Maildir("bob")
	e.RootOwnedMaildir(box) // the seed's story: the daemon user cannot write it
	e.Start()
	var ids []string
	for i := range 5 {
		f := filepath.Join(e.Dir, fmt.Sprintf("m%d.eml", i))
		harness.WriteMessage(t, f, fmt.Sprintf("tide %d", i), 400)
		r := e.Swaks("bob@example.test", f)
		m := queuedAs.FindStringSubmatch(r.Stdout)
		if m == nil {
			t.Fatalf("swaks: %s", r.Stdout)
		}
		ids = append(ids, m[1])
	}
	f := filepath.Join(e.Dir, "c.eml")
	harness.WriteMessage(t, f, "carol", 400)
	e.Swaks("carol@example.test", f)
	e.WaitFor("five deferred", func() bool {
		_, q := e.Mailq()
		return q.Summary.ByState["deferred"] == 5 && len(e.Delivered("carol")) == 1
	})

	url := "http://" + metricsAddr + "/"
	dom := chromium(t, "--dump-dom", url)
	text := regexp.MustCompile(`\s+`).ReplaceAllString(dom, " ")
	for _, want := range []string{
		`id="depth">in the queue<b>5</b>messages`,
		`id="deferred">deferred<b>5</b>recipients`,
		`5 deferred</td>`,
		"cannot create a file in " + filepath.Join(e.Mail, "{domain}", "{local}", "Maildir", "tmp") + ": permission denied",
		`class="fix">fix: `,
		`<svg viewBox="0 0 640 162" role="img" aria-label="queue depth over time"`,
		`<a href="/explain/` + ids[0] + `">` + ids[0] + `</a>`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the page's DOM lacks %q", want)
		}
	}
	if strings.Contains(text, "<script") {
		t.Errorf("the page has a script")
	}
	// The journal says it runs, and lost nothing.
	hc := &http.Client{Timeout: 10 * time.Second}
	if resp, err := hc.Get(url + "metrics"); err != nil {
		t.Errorf("metrics: %v", err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), "ebb_journal_up 1") || !strings.Contains(string(b), "ebb_journal_records_lost_total 0") {
			var got []string
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(l, "ebb_journal") {
					got = append(got, l)
				}
			}
			t.Errorf("metrics lack the journal's state (want ebb_journal_up 1 and ebb_journal_records_lost_total 0); its lines:\n%s", strings.Join(got, "\n"))
		}
	}
	// The story behind the link is ebb explain's.
	story := chromium(t, "--dump-dom", url+"explain/"+ids[0])
	explain := e.Ebb("explain", "-c", e.Conf, ids[0])
	first := strings.SplitN(strings.TrimSpace(explain.Stdout), "\n", 2)[0]
	if !strings.Contains(story, `<ol id="story">`) || !strings.Contains(story, strings.ReplaceAll(first, "<", "&lt;")[:60]) {
		t.Errorf("story page does not show explain's first line %q:\n%s", first, story)
	}

	// A screenshot as a phone would show it, kept as an artifact.
	dir := os.Getenv("EBB_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "ebb-test-artifacts")
	}
	os.MkdirAll(dir, 0o755)
	shot := filepath.Join(dir, "tide.png")
	chromium(t, "--screenshot="+shot, "--window-size=420,1400", url)
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 5000 {
		t.Fatalf("no screenshot at %s: %v", shot, err)
	}
	t.Logf("screenshot of the queue-tide page: %s", shot)

	// The history survives a restart: the page keeps its samples.
	e.Stop()
	if b, err := os.ReadFile(filepath.Join(e.Dir, "data", "tide.jsonl")); err != nil || !strings.Contains(string(b), `"messages":5`) {
		t.Errorf("the history on disk lacks the sample of the backlog: %v %s", err, b)
	}
}

// chromium runs Debian's Chromium headless against a loopback page and
// returns what it printed (the DOM for --dump-dom).
func chromium(t *testing.T, args ...string) string {
	t.Helper()
	profile := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + profile,
		// Its own updater and services ask the host's resolver even so:
		// every name but loopback's is not found.
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"}
	cmd := exec.CommandContext(ctx, "chromium", append(base, args...)...)
	// Chromium keeps crash reports and dconf's cache below HOME whatever
	// --user-data-dir says: the test's directory, not root's.
	cmd.Env = append(os.Environ(), "HOME="+profile, "XDG_CONFIG_HOME="+filepath.Join(profile, "config"), "XDG_CACHE_HOME="+filepath.Join(profile, "cache"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v", args, err)
	}
	return string(out)
}
