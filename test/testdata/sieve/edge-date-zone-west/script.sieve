require ["date", "variables", "fileinto"];
if date :zone "-0800" :matches "date" "date" "*" { fileinto "${1}"; }
