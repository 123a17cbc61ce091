require "fileinto";
fileinto "GlobalWork";
