require "fileinto";
fileinto "Once";
