require ["virustest", "relational", "comparator-i;ascii-numeric", "variables", "fileinto"];
if virustest :value "ge" :comparator "i;ascii-numeric" "4" { fileinto "virus"; }
if virustest :matches "*" { fileinto "v${1}"; }
