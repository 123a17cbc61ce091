require ["include", "fileinto"];
include "returner";
fileinto "AfterReturn";
