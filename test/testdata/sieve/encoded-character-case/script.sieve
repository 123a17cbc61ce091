require ["encoded-character", "fileinto"];
fileinto "${HEX:41 42}${Unicode:43}";
