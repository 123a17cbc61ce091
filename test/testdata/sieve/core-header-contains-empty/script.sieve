if header :contains "x-priority" "" { discard; }
