package sieve

import (
	"errors"
	"strings"
	"testing"
)

// TestCompileErrors pins the message, line and column of compile errors:
// what was found and what was expected.
func TestCompileErrors(t *testing.T) {
	cases := []struct {
		name, src, want string
	}{
		{"missing semicolon at EOF", "require \"fileinto\";\nfileinto \"x\"",
			"test: line 2, column 13: error: expected end of command ';' or the beginning of a compound block '{', but found end of file"},
		{"missing semicolon before command", "keep\ndiscard;",
			"test: line 1, column 1: error: the keep command does not take tests, but found test 'discard'"},
		{"unknown command", "frobnicate;", "test: line 1, column 1: error: unknown command 'frobnicate'"},
		{"extension not required", "fileinto \"x\";", "unknown command 'fileinto' (the fileinto extension is not required: add require \"fileinto\";)"},
		{"unknown capability", "require \"nope\";", "require command: unknown Sieve capability 'nope'"},
		{"require after command", "keep;\nrequire \"fileinto\";", "line 2, column 1: error: require commands can only be placed at top level at the beginning of the file"},
		{"elsif without if", "elsif true { keep; }", "the elsif command must follow an if or elsif command"},
		{"if without block", "if true;", "the if command requires a command block"},
		{"wrong argument type", "redirect [\"a@b.c\", \"d@e.f\"];", "the redirect command expects a string as address argument, but found a string list"},
		{"missing argument", "redirect;", "the redirect command expects a string as address argument, but found none"},
		{"too many arguments", "keep \"x\";", "the keep command takes at most 0 positional arguments, but found a string as argument 1"},
		{"unknown tag", "if header :foo \"a\" \"b\" { keep; }", "line 1, column 11: error: unknown tagged argument ':foo' for the header test"},
		{"tag without extension", "if header :regex \"a\" \"b\" { keep; }", "unknown tagged argument ':regex' for the header test"},
		{"conflicting match types", "if header :is :contains \"a\" \"b\" { keep; }", "the :contains tag of the header test conflicts with :is"},
		{"tag value takes a positional", "if header :comparator \"a\" \"b\" { keep; }", "line 1, column 4: error: the header test expects a string list as key list argument, but found only 1"},
		{"unknown comparator", "if header :comparator \"x;y\" \"a\" \"b\" { keep; }", "line 1, column 23: error: unknown comparator 'x;y'"},
		{"comparator needs require", "if header :comparator \"i;ascii-numeric\" \"a\" \"b\" { keep; }", "requires the comparator-i;ascii-numeric extension"},
		{"numeric comparator and contains", "require \"comparator-i;ascii-numeric\"; if header :contains :comparator \"i;ascii-numeric\" \"a\" \"1\" { keep; }", "the specified :contains match type is not supported by the i;ascii-numeric comparator"},
		{"size needs a tag", "if size 10 { keep; }", "the size test requires either the :under or the :over tag"},
		{"size both tags", "if size :over :under 10 { keep; }", "conflicts with :over"},
		{"address of non-address header", "if address \"subject\" \"x\" { keep; }", "specified header 'subject' is not known to contain addresses"},
		{"bad redirect address", "redirect \"not an address\";", "specified redirect address 'not an address' is invalid"},
		{"command used as test", "if keep { stop; }", "'keep' is a command, not a test"},
		{"test used as command", "true;", "'true' is a test, not a command"},
		{"not with two tests", "if not (true, false) { keep; }", "the not test requires exactly one test"},
		{"allof without list", "if allof true { keep; }", "requires a list of tests in parentheses"},
		{"bad relational op", "require \"relational\"; if header :value \"xx\" \"a\" \"b\" { keep; }", "invalid relational match 'xx'"},
		{"bad regex", "require \"regex\"; if header :regex \"a\" \"(\" { keep; }", "invalid regular expression '(' for regex match"},
		{"include without loader", "require \"include\"; include \"x\";", "include is not configured"},
		{"unbalanced brace", "if true { keep;", "expected a command or the end of the block '}', but found end of file"},
		{"string list unterminated", "if header :is [\"a\" \"b\"] \"c\" { keep; }", "expected ',' or the end of the string list ']', but found string"},
		{"set bad name", "require \"variables\"; set \"a-b\" \"x\";", "invalid variable name 'a-b'"},
		{"last without index", "require \"index\"; if header :last \"a\" \"b\" { keep; }", "the :last tag requires the :index tag"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile("test", []byte(c.src), Options{})
			if err == nil {
				t.Fatalf("compiled, want error %q", c.want)
			}
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("error is not a CompileError: %T %v", err, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("got:\n%s\nwant it to contain:\n%s", err.Error(), c.want)
			}
		})
	}
}

func TestCompileReportsSeveralErrors(t *testing.T) {
	_, err := Compile("s", []byte("foo;\nbar;\nfoo;\n"), Options{})
	var es CompileErrors
	if !errors.As(err, &es) {
		t.Fatalf("got %T", err)
	}
	// foo is reported once, bar once, then "validation failed."
	if len(es) != 3 || es[2].Msg != "validation failed." {
		t.Fatalf("got %d errors:\n%v", len(es), err)
	}
}

func TestExtensionsOption(t *testing.T) {
	_, err := Compile("s", []byte(`require "editheader";`), Options{Extensions: PigeonholeDefaultExtensions})
	if err == nil || !strings.Contains(err.Error(), "unknown Sieve capability 'editheader'") {
		t.Fatalf("editheader should be off in Pigeonhole's defaults, got %v", err)
	}
	if _, err := Compile("s", []byte(`require "editheader";`), Options{}); err != nil {
		t.Fatalf("editheader is on by default: %v", err)
	}
}

func TestRequiresReported(t *testing.T) {
	s := compileT(t, `require ["fileinto", "vacation-seconds"];`)
	got := strings.Join(s.Requires(), ",")
	if got != "fileinto,vacation,vacation-seconds" {
		t.Errorf("got %s", got)
	}
}
