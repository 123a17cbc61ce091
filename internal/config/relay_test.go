package config

import (
	"strings"
	"testing"
)

// relay.routes, relay.tls_policy and relay.smarthost are checked when the
// file is read, each problem with its line.
func TestRelayTables(t *testing.T) {
	good := "[relay]\nroutes = [\"Example.NET.=smtp.example.net:587\", \"example.org=direct\"]\ntls_policy = [\"example.net=verify\"]\n"
	c, err := Parse("ebb.toml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := c.Relay.ParseRoutes()
	if len(rs) != 2 || rs[0].Domain != "example.net" || rs[0].Host != "smtp.example.net:587" || rs[1].Host != "" {
		t.Errorf("routes %+v", rs)
	}
	for _, tc := range []struct{ text, want string }{
		{"[relay]\nroutes = [\"example.net\"]\n", "ebb.toml:2: relay.routes: \"example.net\" is not domain=host:port or domain=direct"},
		{"[relay]\nroutes = [\"example.net=smtp.example.net\"]\n", "ebb.toml:2: relay.routes: \"example.net=smtp.example.net\": the host needs a port"},
		{"[relay]\n\ntls_policy = [\"example.net=strict\"]\n", "ebb.toml:3: relay.tls_policy: \"example.net=strict\": the level must be none, may, encrypt or verify"},
		{"[relay]\nsmarthost = \"smtp.example.net\"\n", "ebb.toml:2: relay.smarthost: \"smtp.example.net\" needs a port"},
		{"[relay]\ntls = \"secure\"\n", "ebb.toml:2:"},
	} {
		_, err := Parse("ebb.toml", []byte(tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.text, err, tc.want)
		}
	}
}
