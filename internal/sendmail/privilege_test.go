package sendmail

import "testing"

func TestConfigOptionRefusedWithExtraPrivileges(t *testing.T) {
	with := &Options{Config: "/etc/shadow"}
	without := &Options{}
	for _, c := range []struct {
		name   string
		o      *Options
		cred   Credentials
		refuse bool
	}{
		{"an ordinary caller, no privileges", with, Credentials{1000, 1000, 1000, 1000}, false},
		{"setuid root, ordinary caller", with, Credentials{1000, 0, 1000, 1000}, true},
		{"setgid mail, ordinary caller", with, Credentials{1000, 1000, 1000, 8}, true},
		{"root may name any config", with, Credentials{0, 0, 0, 8}, false},
		{"no -C, setgid", without, Credentials{1000, 1000, 1000, 8}, false},
	} {
		err := CheckConfigOption(c.o, c.cred)
		if (err != nil) != c.refuse {
			t.Errorf("%s: %v, want refused %v", c.name, err, c.refuse)
		}
	}
}
