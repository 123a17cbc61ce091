require "fileinto";
fileinto "Lists.kernel";
