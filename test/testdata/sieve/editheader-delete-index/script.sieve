require ["editheader", "index", "variables", "fileinto"];
deleteheader :index 2 "x-tag";
if header :index 2 :matches "x-tag" "*" { fileinto "second-now-${1}"; }
