if header :is "subject" "duplicate subject field" { discard; }
