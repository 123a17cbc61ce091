require "envelope";
if envelope :domain :is "from" "EXAMPLE.org" { discard; }
