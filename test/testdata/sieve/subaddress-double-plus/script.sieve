require ["subaddress", "variables", "fileinto"];
if address :detail :matches "cc" "a*" { fileinto "d-${0}"; }
