require "date";
if date :is "date" "year" "2016" { discard; }
