package tide

import (
	"strings"
	"testing"
)

// The page counts in English: 1 sample, 1 message, 2 deferrals (issue 21's
// "1 samples").
func TestPageCountsInEnglish(t *testing.T) {
	var b strings.Builder
	if err := pageTmpl().Execute(&b, view{Samples: 1, Messages: 1, Deferred: 1, Pending: 2, Deferrals: 1, WindowLabel: "last hour"}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"1 sample in the last hour", "<b>1</b>message", "<b>1</b>recipient</div>", "<b>2</b>recipients</div>", "1 deferral,"} {
		if !strings.Contains(out, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, bad := range []string{"1 samples", "<b>1</b>messages", "1 deferrals"} {
		if strings.Contains(out, bad) {
			t.Errorf("page says %q", bad)
		}
	}
}
