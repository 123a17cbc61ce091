package sieve_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/ebbmail/ebb/internal/sieve"
)

// A script is compiled once and run per message; the caller performs the
// actions and, on error, the implicit keep.
func Example() {
	script, err := sieve.Compile("example", []byte(`
require ["fileinto", "imap4flags"];
if header :contains "subject" "invoice" {
	addflag "\\Flagged";
	fileinto "Finance";
}`), sieve.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	raw := "From: alice@example.com\r\nSubject: Your invoice\r\n\r\nHello\r\n"
	msg, err := sieve.NewMessage(strings.NewReader(raw), int64(len(raw)))
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := script.Run(context.Background(), msg,
		sieve.Envelope{From: "alice@example.com", To: "bob@example.org"}, sieve.Runtime{})
	if err != nil {
		fmt.Println("keep the message:", err)
		return
	}
	for _, a := range res.Actions {
		fmt.Printf("%#v\n", a)
	}
	fmt.Println("implicit keep:", res.ImplicitKeep)
	// Output:
	// sieve.FileInto{Mailbox:"Finance", Flags:[]string{"\\Flagged"}, Copy:false, Create:false}
	// implicit keep: false
}

// Compile errors name the script, line and column, what was found and what
// was expected.
func ExampleCompile_error() {
	_, err := sieve.Compile("vacation.sieve", []byte("require \"fileinto\";\nfileinto \"x\""), sieve.Options{})
	fmt.Println(err)
	// Output:
	// vacation.sieve: line 2, column 13: error: expected end of command ';' or the beginning of a compound block '{', but found end of file
	// vacation.sieve: error: parse failed.
}
