package deliver

import (
	"strings"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

// The normalisers decide what "the same actions" means in the differential
// test; a normaliser that dropped lines would make every case pass. These
// pin them on real sieve-test output (Pigeonhole 0.5.19) and on ebb's format.

func TestNormalisePigeonholeReport(t *testing.T) {
	t.Parallel()
	stdout := `
Performed actions:

 * store message in folder: Finance
        + preserve implicit keep
        + add IMAP flags: \seen $Label1
 * redirect message to: <a@b.example>
 * send vacation message:
    => seconds : 259200
    => subject : Away
    => from    : me@x.example
    => handle  : I am away.Awayme@x.example<NO-MIME>

START MESSAGE
I am away.
END MESSAGE
 * track duplicate with handle: a
 * reject message with reason: line1??line2??
 * store message in folder: INBOX
 * discard

Implicit keep:

 * store message in folder: INBOX
        + add IMAP flags: \flagged

`
	got, err := harness.NormalisePigeonhole(stdout, "sieve-test(ebbtest): Info: final result: success\n", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`fileinto "Finance" flags "$Label1" "\\seen" :copy`,
		`redirect "a@b.example"`,
		`vacation seconds=259200 subject="Away" from="me@x.example" handle="I am away.Awayme@x.example<NO-MIME>" reason="I am away."`,
		`reject "line1??line2??"`,
		`keep`,
		`discard`,
		`implicit keep flags "\\flagged"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	got, _ = harness.NormalisePigeonhole("", "bad: line 3: error: expected end of command ';'\nbad: error: parse failed.\nsieve-test(x): Fatal: failed to compile sieve script\n", 89)
	if strings.Join(got, "|") != "compile error line 3" {
		t.Errorf("compile error: got %q", got)
	}
	got, _ = harness.NormalisePigeonhole("", "x: line 1: error: number of redirect actions exceeds policy limit\nsieve-test(x): Info: final result: failed; resolved with successful implicit keep\n", 1)
	if strings.Join(got, "|") != "runtime error|implicit keep" {
		t.Errorf("runtime error: got %q", got)
	}
	if _, err := harness.NormalisePigeonhole(" * notify somebody\n", "final result: success", 0); err == nil {
		t.Error("an unknown sieve-test line was accepted; it must fail the case, not vanish")
	}
}

func TestNormaliseEbbOutput(t *testing.T) {
	t.Parallel()
	stdout := `fileinto "INBOX" flags "\\Seen" :copy
fileinto "Finance" flags "\\Seen" "$Label1" :copy
addheader "X-A" "1"
deleteheader "subject" index 1
ereject "line1\r\nline2\n"
vacation to="alice@example.org" subject="Away" from="me@x.example" seconds=259200 handle="h" addresses="a, b" reason="I am away.\r\n"
keep :copy
implicit keep flags "\\Flagged"
`
	got, err := harness.NormaliseEbb(stdout, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`keep flags "\\seen"`,
		`fileinto "Finance" flags "$Label1" "\\seen" :copy`,
		`reject "line1??line2??"`,
		`vacation seconds=259200 subject="Away" from="me@x.example" handle="h" reason="I am away."`,
		`keep`,
		`implicit keep flags "\\flagged"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	got, _ = harness.NormaliseEbb("", "/x/s.sieve:4:1: error: expected end of command ';'\n", 2)
	if strings.Join(got, "|") != "compile error line 4" {
		t.Errorf("compile error: got %q", got)
	}
	if _, err := harness.NormaliseEbb("teleport \"mars\"\n", "", 0); err == nil {
		t.Error("an unknown ebb line was accepted")
	}
	if _, err := harness.NormaliseEbb("keep\n", "", 1); err == nil {
		t.Error("exit 1 without an error line was accepted")
	}
}
