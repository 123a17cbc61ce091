if header :contains "subject" "inner" { discard; }
