require ["editheader", "fileinto"];
addheader "Reply-To" "help@example.net";
if address :domain :is "reply-to" "example.net" { fileinto "rt"; }
