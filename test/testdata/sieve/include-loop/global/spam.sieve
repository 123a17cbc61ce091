require "fileinto";
if header :is "x-spam-status" "Yes" { fileinto "Junk"; }
