require "relational";
if header :value "ge" "subject" "your" { discard; }
