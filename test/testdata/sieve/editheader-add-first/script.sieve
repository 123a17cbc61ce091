require ["editheader", "index", "fileinto"];
addheader "X-Tag" "new";
if header :index 1 :is "x-tag" "new" { fileinto "first"; }
