require "fileinto";
discard;
fileinto "after";
