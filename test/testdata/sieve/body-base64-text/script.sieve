require "body";
if body :contains "swordfish" { discard; }
