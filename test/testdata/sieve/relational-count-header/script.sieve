require ["relational", "comparator-i;ascii-numeric"];
if header :count "eq" :comparator "i;ascii-numeric" "received" "3" { discard; }
