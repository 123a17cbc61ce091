package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ScanConf is the [scan.clamd] and [scan.spamd] sections for the daemons
// at those addresses (none when ""), with extra's lines for each.
func ScanConf(clamd, spamd, extra string) string {
	var b strings.Builder
	if clamd != "" {
		fmt.Fprintf(&b, "[scan.clamd]\naddress = %q\nconfig = \"\"\n", clamd)
		b.WriteString(ScanExtraFor(extra, "clamd"))
	}
	if spamd != "" {
		fmt.Fprintf(&b, "[scan.spamd]\naddress = %q\n", spamd)
		b.WriteString(ScanExtraFor(extra, "spamd"))
	}
	return b.String()
}

// extraFor picks the lines "name.key = value" of extra for one scanner.
func ScanExtraFor(extra, name string) string {
	var b strings.Builder
	for _, l := range strings.Split(extra, "\n") {
		if k, ok := strings.CutPrefix(strings.TrimSpace(l), name+"."); ok {
			b.WriteString(k + "\n")
		}
	}
	return b.String()
}

// SpoolFiles lists the message files left in the spool.
func SpoolFiles(t *testing.T, spool string) []string {
	var out []string
	filepath.Walk(spool, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && strings.HasSuffix(p, ".q") {
			out = append(out, p)
		}
		return nil
	})
	return out
}
