require ["subaddress", "relational", "comparator-i;ascii-numeric"];
if address :user :count "eq" :comparator "i;ascii-numeric" "cc" "3" { discard; }
