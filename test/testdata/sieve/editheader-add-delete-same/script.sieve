require ["editheader", "fileinto"];
addheader "X-A" "1";
deleteheader "X-A";
if not exists "x-a" { fileinto "none"; }
