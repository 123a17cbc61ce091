require "relational";
if header :value "gt" "x-count" "9" { discard; }
