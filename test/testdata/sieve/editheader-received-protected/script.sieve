require ["editheader", "fileinto"];
deleteheader "received";
if exists "received" { fileinto "still-there"; }
