require "fileinto";
fileinto "a\qb";
