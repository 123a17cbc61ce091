require "fileinto";

fileinto "x"
