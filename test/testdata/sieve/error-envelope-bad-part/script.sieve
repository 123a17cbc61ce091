require "envelope";
if envelope :is "cc" "x" { keep; }
