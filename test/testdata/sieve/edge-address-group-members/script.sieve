require ["relational", "comparator-i;ascii-numeric", "variables", "fileinto"];
if address :count "eq" :comparator "i;ascii-numeric" "cc" "3" { fileinto "three"; }
if address :is "cc" "ben@example.com" { fileinto "ben"; }
