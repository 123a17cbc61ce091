require "body";
if body :text :contains "secret payload" { discard; }
