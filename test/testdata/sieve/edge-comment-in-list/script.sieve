if header :contains ["x-missing", /* c */ "subject" # hash
] "invoice" { discard; }
