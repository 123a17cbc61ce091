require "envelope";
if envelope :is "from" "alice@example.org" { discard; } elsif envelope :domain :is "from" "mailer.example.net" { redirect "bulk@example.net"; }
