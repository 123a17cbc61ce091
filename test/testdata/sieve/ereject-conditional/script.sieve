require "ereject";
if header :contains "subject" "WON" { ereject "no lottery mail"; }
