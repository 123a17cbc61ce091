require "relational";
if header :count "eq" "received" "2" { discard; }
