require ["date", "variables", "fileinto"];
if date :originalzone :matches "date" "minute" "*" { set "mi" "${1}"; }
if date :originalzone :matches "date" "second" "*" { fileinto "${mi}m${1}s"; }
