require ["editheader", "index", "fileinto"];
deleteheader :index 1 :last "x-tag";
if header :index 1 :last :is "x-tag" "beta" { fileinto "beta-last"; }
