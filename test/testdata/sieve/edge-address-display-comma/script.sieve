if address :is "from" "john@example.org" { discard; }
