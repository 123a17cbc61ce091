require "date";
if date :matches "date" "year" "*" { discard; }
