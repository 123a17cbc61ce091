require ["variables", "fileinto"];
if address :localpart :matches "sender" "*" { fileinto "lp-${1}"; }
