require ["encoded-character", "fileinto"];
fileinto "Caf${unicode:e9}";
