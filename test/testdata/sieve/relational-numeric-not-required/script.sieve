require "relational";
if header :value "gt" :comparator "i;ascii-numeric" "x-count" "1" { discard; }
