require ["copy", "fileinto"];
fileinto :copy "A";
fileinto :copy "B";
