require ["date", "variables", "fileinto"];
if date :originalzone :matches "date" "month" "*" { set "m" "${1}"; }
if date :originalzone :matches "date" "day" "*" { set "d" "${1}"; }
fileinto "${m}-${d}";
