if not header :contains "x-missing" "a" { discard; }
