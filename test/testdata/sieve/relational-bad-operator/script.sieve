require "relational";
if header :value "gte" "x-count" "1" { discard; }
