if header :contains "subject" "invoice" { discard; }
