require "fileinto";
fileinto "B";
fileinto "A";
