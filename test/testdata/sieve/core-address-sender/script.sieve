require "fileinto";
if address :domain :is "sender" "vger.example.org" { fileinto "lists"; }
