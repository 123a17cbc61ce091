package sieve

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
)

// Rules50 is a 50-rule script of the kind Roundcube users accumulate:
// header and address tests filing into folders, a few flags and a final
// catch-all. The bench/ script runs the same script through sieve-test.
func Rules50() string {
	var b strings.Builder
	b.WriteString(`require ["fileinto", "imap4flags", "envelope", "variables", "relational", "comparator-i;ascii-numeric", "regex"];` + "\n")
	for i := 0; i < 50; i++ {
		switch i % 5 {
		case 0:
			fmt.Fprintf(&b, "if header :contains \"subject\" \"project-%d\" { fileinto \"Projects/%d\"; stop; }\n", i, i)
		case 1:
			fmt.Fprintf(&b, "if address :domain :is \"from\" \"customer%d.example\" { addflag \"\\\\Flagged\"; fileinto \"Customers\"; stop; }\n", i)
		case 2:
			fmt.Fprintf(&b, "if header :matches \"list-id\" \"*<list%d.*>*\" { fileinto \"Lists/%d\"; stop; }\n", i, i)
		case 3:
			fmt.Fprintf(&b, "if anyof (header :is \"x-mailer\" \"bulk%d\", envelope :localpart :is \"from\" \"noreply%d\") { fileinto \"Bulk\"; stop; }\n", i, i)
		case 4:
			fmt.Fprintf(&b, "if header :value \"ge\" :comparator \"i;ascii-numeric\" \"x-spam-score\" \"%d\" { set \"s\" \"%d\"; }\n", 100+i, i)
		}
	}
	b.WriteString("if header :regex \"subject\" \"^\\\\[(urgent|asap)\\\\]\" { addflag \"\\\\Flagged\"; }\nkeep;\n")
	return b.String()
}

// BenchmarkRun50Rules: compile once, evaluate per message; reports
// allocations per evaluation.
func BenchmarkRun50Rules(b *testing.B) {
	s, err := Compile("rules50", []byte(Rules50()), Options{})
	if err != nil {
		b.Fatal(err)
	}
	msgs := make([]Message, 10)
	for i := range msgs {
		raw := fmt.Sprintf("From: Someone <user%d@customer%d.example>\r\nTo: bob@example.org\r\n"+
			"Subject: Re: status of project-%d\r\nList-Id: Team <team.example.org>\r\nX-Spam-Score: %d\r\n"+
			"Message-ID: <%d@example.org>\r\n\r\nHello.\r\n", i, i*3, i*7, i, i)
		msgs[i] = msgOf(b, raw)
	}
	env := Envelope{From: "user@example.net", To: "bob@example.org"}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Run(ctx, msgs[i%len(msgs)], env, Runtime{}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRules50Compiles(t *testing.T) {
	s := compileT(t, Rules50())
	res, err := s.Run(context.Background(), msgOf(t, "From: a@customer1.example\r\nSubject: [urgent] x\r\n\r\n"), Envelope{}, Runtime{})
	if err != nil {
		t.Fatal(err)
	}
	if got := formatResult(res); got != "fileinto Customers [\\Flagged]" {
		t.Errorf("got %s", got)
	}
}

// TestRules50File keeps testdata/bench/rules50.sieve (used by bench/ to run
// the same script through sieve-test) equal to Rules50.
func TestRules50File(t *testing.T) {
	b, err := os.ReadFile("testdata/bench/rules50.sieve")
	if err != nil || string(b) != Rules50() {
		t.Fatalf("testdata/bench/rules50.sieve is missing or stale (%v); regenerate it from Rules50()", err)
	}
}
