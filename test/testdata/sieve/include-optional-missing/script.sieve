require ["include", "fileinto"];
include :optional "absent";
fileinto "After";
