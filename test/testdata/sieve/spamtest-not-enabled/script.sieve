require "spamtest";
if spamtest "1" { discard; }
