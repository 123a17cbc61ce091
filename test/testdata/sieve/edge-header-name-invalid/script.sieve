if header :contains "x bad" "" { discard; }
