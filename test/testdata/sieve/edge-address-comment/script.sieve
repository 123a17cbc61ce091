if address :localpart :is "from" "john" { discard; }
