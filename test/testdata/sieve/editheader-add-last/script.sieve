require ["editheader", "index", "fileinto"];
addheader :last "X-Tag" "new";
if header :index 1 :last :is "x-tag" "new" { fileinto "last"; }
