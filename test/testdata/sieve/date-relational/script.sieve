require ["date", "relational"];
if date :value "ge" :originalzone "date" "date" "2016-02-01" { discard; }
