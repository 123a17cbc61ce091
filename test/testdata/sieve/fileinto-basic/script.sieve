require "fileinto";
fileinto "Finance";
