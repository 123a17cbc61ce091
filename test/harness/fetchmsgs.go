package harness

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

var MessageIDRE = regexp.MustCompile(`(?mi)^Message-ID: (<[^>]+>)`)

// DupCount is how many copies beyond the first ids counts (Message-ID:
// times seen): the duplicates a fetch made.
func DupCount(ids map[string]int) int {
	n := 0
	for _, c := range ids {
		n += c - 1
	}
	return n
}

// RemoteMsgs is n test messages numbered from start (TestMessage).
func RemoteMsgs(n, start int, subject string, size int) [][]byte {
	var out [][]byte
	for i := start; i < start+n; i++ {
		out = append(out, TestMessage(i, subject, size))
	}
	return out
}

// IdsIn reads the Message-IDs of every file in dirs.
func IdsIn(t *testing.T, dirs ...string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, d := range dirs {
		ents, _ := os.ReadDir(d)
		for _, en := range ents {
			b, err := os.ReadFile(filepath.Join(d, en.Name()))
			if err != nil {
				continue
			}
			if m := MessageIDRE.FindSubmatch(b); m != nil {
				out[string(m[1])]++
			}
		}
	}
	return out
}
