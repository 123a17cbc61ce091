if header "subject" "invoice" { discard; }
