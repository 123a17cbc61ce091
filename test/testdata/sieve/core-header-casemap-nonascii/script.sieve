if header :contains "subject" "FÜR" { discard; } elsif header :contains "subject" "RECHNUNG" { redirect "ascii@example.net"; }
