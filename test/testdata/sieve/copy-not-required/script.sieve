require ["vacation", "fileinto"];
fileinto :copy "x";
