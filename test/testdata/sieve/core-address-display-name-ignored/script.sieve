if address :contains "from" "Example <" { discard; } elsif address :is "from" "alice@example.org" { redirect "addr@example.net"; }
