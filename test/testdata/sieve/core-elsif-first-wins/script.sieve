if header :contains "subject" "invoice" { redirect "a@example.net"; } elsif header :contains "subject" "42" { redirect "b@example.net"; }
