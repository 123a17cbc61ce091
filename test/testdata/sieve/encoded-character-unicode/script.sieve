require "encoded-character";
if header :contains "subject" "f${unicode:00fc}r" { discard; }
