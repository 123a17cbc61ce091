require "date";
if date :matches "x-bad-date" "year" "*" { discard; }
