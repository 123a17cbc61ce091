require ["include", "fileinto"];
fileinto "Before";
return;
fileinto "After";
