require "fileinto";
fileinto "Keepme";
discard;
