require "fileinto";
require ["fileinto", "fileinto"];
fileinto "x";
