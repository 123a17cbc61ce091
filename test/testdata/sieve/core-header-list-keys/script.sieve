if header :contains "subject" ["nope", "42"] { discard; }
