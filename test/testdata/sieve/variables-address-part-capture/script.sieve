require ["variables", "fileinto"];
if address :domain :matches "from" "*.*" { fileinto "dom-${1}-${2}"; }
