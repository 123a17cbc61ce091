require "reject";
if address :is "from" "alice@example.org" { reject "go away"; stop; }
keep;
