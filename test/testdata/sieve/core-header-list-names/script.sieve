if header :contains ["x-missing", "subject"] "invoice" { discard; }
