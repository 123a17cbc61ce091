require "body";
if body :contains "softly wrapped" { discard; }
