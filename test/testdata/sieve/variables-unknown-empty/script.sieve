require ["variables", "fileinto"];
fileinto "a${nothing}b";
