IF HEADER :CONTAINS "subject" "invoice" { DISCARD; }
