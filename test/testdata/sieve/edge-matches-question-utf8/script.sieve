require "fileinto";
if address :localpart :is "from" "zoe" { }
if header :matches "x-word" "?BC" { fileinto "one-char"; }
if header :matches "x-word" "??BC" { fileinto "two-bytes"; }
