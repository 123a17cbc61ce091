require "body";
if body :content "multipart" :contains "preamble" { discard; }
