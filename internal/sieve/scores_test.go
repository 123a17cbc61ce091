package sieve

import "testing"

func TestScoresFromScanHeaders(t *testing.T) {
	cases := []struct {
		name                 string
		h                    []HeaderField
		spam, percent, virus int
	}{
		{"no scan header: not tested", []HeaderField{{"X-Spam-Status", " Yes, score=20.0 required=5.0 tests=X"}}, 0, -1, 0},
		{"spam at 4x the threshold", []HeaderField{{"X-Ebb-Scan", " clamd=clean (0.01s); spamd=spam (score 20.0/5.0, 0.1s)"},
			{"X-Spam-Status", " Yes, score=20.0 required=5.0 tests=GTUBE"}}, 10, 100, 1},
		{"ham, folded", []HeaderField{{"X-Ebb-Scan", " clamd=clean (0.01s); spamd=ham\r\n\t(score 2.5/5.0, 0.1s)"},
			{"X-Spam-Status", " No, score=2.5\r\n\trequired=5.0 tests=A"}}, 6, 50, 1},
		{"negative score", []HeaderField{{"X-Ebb-Scan", " spamd=ham (score -1.0/5.0, 0.1s)"},
			{"X-Spam-Status", " No, score=-1.0 required=5.0 tests=A"}}, 1, 0, 0},
		{"spamd skipped: a forged X-Spam-Status is not read", []HeaderField{{"X-Ebb-Scan", " clamd=clean (0.01s); spamd=skipped (size 9 > scan.spamd.max_size 1)"},
			{"X-Spam-Status", " No, score=-100.0 required=5.0 tests=FORGED"}}, 0, -1, 1},
		{"clamd unscanned", []HeaderField{{"X-Ebb-Scan", " clamd=unscanned (down; policy accept)"}}, 0, -1, 0},
	}
	for _, tc := range cases {
		s, p, v := Scores(tc.h)
		if s != tc.spam || p != tc.percent || v != tc.virus {
			t.Errorf("%s: got spam %d percent %d virus %d, want %d %d %d", tc.name, s, p, v, tc.spam, tc.percent, tc.virus)
		}
	}
}
