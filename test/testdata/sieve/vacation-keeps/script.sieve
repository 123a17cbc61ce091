require ["vacation", "fileinto", "copy"];
fileinto :copy "x";
vacation :subject "s" "r";
