require "body";
if body :content "application/pdf" :contains "secret payload" { discard; }
