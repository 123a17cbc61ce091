require ["variables", "fileinto"];
if address :all :matches "resent-from" "*" { fileinto "all-${1}"; }
if address :domain :matches "resent-from" "*" { fileinto "dom-${1}"; }
