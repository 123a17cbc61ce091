require ["include", "fileinto"];
include "stopper";
fileinto "AfterInclude";
