if header :contains "subject" "für Café" { discard; }
