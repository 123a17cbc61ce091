if header :contains "x-missing" "" { discard; }
