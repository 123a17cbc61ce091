require "body";
if body :contains "Your invoice 42" { discard; }
