require ["editheader", "fileinto"];
deleteheader "x-tag";
if not exists "x-tag" { fileinto "gone"; }
