require ["index", "variables", "fileinto"];
if header :index 2 :matches "x-tag" "*" { set "a" "${1}"; }
if header :index 2 :last :matches "x-tag" "*" { fileinto "${a}-${1}"; }
