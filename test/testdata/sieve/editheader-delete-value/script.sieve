require ["editheader", "relational", "comparator-i;ascii-numeric", "fileinto"];
deleteheader :matches "x-tag" "g*";
if header :count "eq" :comparator "i;ascii-numeric" "x-tag" "2" { fileinto "two-left"; }
