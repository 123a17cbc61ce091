require "body";
if body :contains "lottery" { discard; }
