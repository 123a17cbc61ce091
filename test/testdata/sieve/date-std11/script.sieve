require ["date", "variables", "fileinto"];
if date :zone "+0000" :matches "date" "std11" "*" { fileinto "${1}"; }
