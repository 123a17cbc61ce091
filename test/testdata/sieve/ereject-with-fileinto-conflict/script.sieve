require ["ereject", "fileinto"];
fileinto "x";
ereject "no";
