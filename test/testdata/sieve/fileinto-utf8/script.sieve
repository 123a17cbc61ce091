require "fileinto";
fileinto "Rechnungen/Büro";
