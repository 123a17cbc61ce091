require "body";
if body :comparator "i;octet" :contains "hello bob" { discard; } elsif body :comparator "i;octet" :contains "Hello Bob" { redirect "octet@example.net"; }
