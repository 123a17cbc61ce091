if address :contains "bcc" "" { discard; }
