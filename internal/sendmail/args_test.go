package sendmail

import (
	"errors"
	"reflect"
	"testing"
)

// The argv of real callers, as they run /usr/sbin/sendmail.
func TestParseRealCallers(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want Options
	}{
		{"cron Debian (Vixie): full name attached, 8BITMIME, -oem",
			[]string{"-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"},
			Options{FullName: "CronDaemon", IgnoreDots: true, Body: "8BITMIME", Recipients: []string{"root"}}},
		{"cronie (RHEL): -odi -oem -oi -t -f",
			[]string{"-FCronDaemon", "-i", "-odi", "-oem", "-oi", "-t", "-f", "root@host.example"},
			Options{FullName: "CronDaemon", IgnoreDots: true, ExtractRecipients: true, Sender: "root@host.example", SenderSet: true}},
		{"bsd-mailx: -i -t",
			[]string{"-i", "-t"},
			Options{IgnoreDots: true, ExtractRecipients: true}},
		{"bsd-mailx with -r: -i -t -f addr",
			[]string{"-i", "-t", "-f", "sender@example.org"},
			Options{IgnoreDots: true, ExtractRecipients: true, Sender: "sender@example.org", SenderSet: true}},
		{"BSD mail names.c: -i -m -v -- recipients",
			[]string{"-i", "-m", "-v", "--", "alice@example.org", "bob"},
			Options{IgnoreDots: true, Verbose: true, Recipients: []string{"alice@example.org", "bob"}}},
		{"s-nail: -i -F name -f from -- recipient",
			[]string{"-i", "-F", "Alice Smith", "-f", "alice@example.org", "--", "bob@example.org"},
			Options{IgnoreDots: true, FullName: "Alice Smith", Sender: "alice@example.org", SenderSet: true, Recipients: []string{"bob@example.org"}}},
		{"PHP mail(): sendmail_path = sendmail -t -i",
			[]string{"-t", "-i"},
			Options{ExtractRecipients: true, IgnoreDots: true}},
		{"PHP mail() with additional_params -f",
			[]string{"-t", "-i", "-fwww@example.org"},
			Options{ExtractRecipients: true, IgnoreDots: true, Sender: "www@example.org", SenderSet: true}},
		{"Perl Mail::Mailer: -t",
			[]string{"-t"},
			Options{ExtractRecipients: true}},
		{"Email::Send::Sendmail: -t -oi",
			[]string{"-t", "-oi"},
			Options{ExtractRecipients: true, IgnoreDots: true}},
		{"clustered flags -ti",
			[]string{"-ti"},
			Options{ExtractRecipients: true, IgnoreDots: true}},
		{"-r is -f, separate",
			[]string{"-r", "bounce@example.org", "x@example.org"},
			Options{Sender: "bounce@example.org", SenderSet: true, Recipients: []string{"x@example.org"}}},
		{"null sender -f <>",
			[]string{"-f", "<>", "x@example.org"},
			Options{Sender: "", SenderSet: true, Recipients: []string{"x@example.org"}}},
		{"null sender -f ''",
			[]string{"-f", "", "x@example.org"},
			Options{Sender: "", SenderSet: true, Recipients: []string{"x@example.org"}}},
		{"-B 7BIT separate, DSN options",
			[]string{"-B", "7BIT", "-N", "failure,delay", "-V", "env-1", "-R", "hdrs", "x"},
			Options{Body: "7BIT", Notify: "failure,delay", EnvID: "env-1", Ret: "hdrs", Recipients: []string{"x"}}},
		{"-C config file",
			[]string{"-C", "/etc/ebb/other.toml", "x"},
			Options{Config: "/etc/ebb/other.toml", Recipients: []string{"x"}}},
		{"recipients before options (permutation)",
			[]string{"x@example.org", "-oi"},
			Options{IgnoreDots: true, Recipients: []string{"x@example.org"}}},
		{"-- then something that looks like an option",
			[]string{"-i", "--", "-weird@example.org"},
			Options{IgnoreDots: true, Recipients: []string{"-weird@example.org"}}},
		{"-bm explicit",
			[]string{"-bm", "x"},
			Options{Recipients: []string{"x"}}},
		{"-bs", []string{"-bs"}, Options{Mode: ModeSMTP}},
		{"-bp", []string{"-bp"}, Options{Mode: ModeMailq}},
		{"-q", []string{"-q"}, Options{Mode: ModeFlush}},
		{"-qIid", []string{"-qIABC123"}, Options{Mode: ModeFlush, FlushID: "ABC123"}},
		{"-q1h is a daemon interval", []string{"-q1h"}, Options{Mode: ModeIgnore}},
		{"-bi newaliases", []string{"-bi"}, Options{Mode: ModeNewAliases}},
		{"-I newaliases", []string{"-I"}, Options{Mode: ModeNewAliases}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse("sendmail", tc.args)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.args, err)
			}
			got.Ignored = nil
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tc.args, *got, tc.want)
			}
		})
	}
}

// Options that are accepted and ignored must not swallow recipients.
func TestParseIgnoredOptions(t *testing.T) {
	tests := [][]string{
		{"-oem"}, {"-oee"}, {"-odi"}, {"-odb"}, {"-om"}, {"-o7"}, {"-o8"},
		{"-o", "x", "value"}, {"-O", "DeliveryMode=b"}, {"-OQueueDirectory=/x"},
		{"-m"}, {"-n"}, {"-G"}, {"-U"}, {"-v"}, {"-Am"}, {"-Ac"}, {"-A", "c"},
		{"-h", "12"}, {"-h12"}, {"-L", "label"}, {"-Llabel"}, {"-R", "full"},
		{"-X", "/var/log/x"}, {"-B8BITMIME"}, {"-B", "7BIT"}, {"-N", "never"},
		{"-V", "envid"}, {"-d0.1"}, {"-p", "ESMTP:host"}, {"-oQ/var/spool"},
		{"-x"}, {"-c"}, {"-4"}, {"-6"}, {"-oA/etc/aliases"},
	}
	for _, args := range tests {
		all := append(append([]string{}, args...), "alice@example.org")
		got, err := Parse("sendmail", all)
		if err != nil {
			t.Errorf("Parse(%q): %v", all, err)
			continue
		}
		if got.Mode != ModeDeliver {
			t.Errorf("Parse(%q): mode %v, want deliver", all, got.Mode)
		}
		if !reflect.DeepEqual(got.Recipients, []string{"alice@example.org"}) {
			t.Errorf("Parse(%q): recipients %q, want [alice@example.org]", all, got.Recipients)
		}
	}
}

func TestParseProgramName(t *testing.T) {
	for name, want := range map[string]Mode{"sendmail": ModeDeliver, "mailq": ModeMailq, "newaliases": ModeNewAliases} {
		o, err := Parse(name, nil)
		if err != nil || o.Mode != want {
			t.Errorf("Parse as %s: mode %v err %v, want %v", name, o.Mode, err, want)
		}
	}
}

func TestParseUsageErrors(t *testing.T) {
	tests := map[string][]string{
		"unknown option":            {"-Z"},
		"missing value for -f":      {"-f"},
		"missing value for -F":      {"-i", "-F"},
		"bad -B":                    {"-B9BIT", "x"},
		"-bd is not how ebb runs":   {"-bd"},
		"-bv unsupported":           {"-bv", "x"},
		"-t with -bs":               {"-bs", "-t"},
		"mailq takes no recipients": {"-bp", "x"},
		"-qI without id":            {"-qI"},
	}
	for name, args := range tests {
		_, err := Parse("sendmail", args)
		var ue *UsageError
		if !errors.As(err, &ue) {
			t.Errorf("%s: Parse(%q) = %v, want a UsageError", name, args, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"-FCronDaemon -i -B8BITMIME -oem root", "-t -i", "-o x value a", "-q", "-qIx", "-- -x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args := splitFields(s)
		o, err := Parse("sendmail", args)
		if err == nil && o == nil {
			t.Fatal("nil options without error")
		}
	})
}

func splitFields(s string) []string {
	var out []string
	cur := ""
	for _, r := range s {
		if r == ' ' {
			out = append(out, cur)
			cur = ""
			continue
		}
		cur += string(r)
	}
	return append(out, cur)
}
