require "envelope";
if envelope :comparator "i;octet" :is "from" "alice@example.org" { discard; } elsif envelope :is "from" "alice@example.org" { redirect "ci@example.net"; }
