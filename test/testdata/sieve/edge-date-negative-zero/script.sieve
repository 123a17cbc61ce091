require ["date", "variables", "fileinto"];
if date :originalzone :matches "x-date-negative" "zone" "*" { fileinto "z${1}"; }
