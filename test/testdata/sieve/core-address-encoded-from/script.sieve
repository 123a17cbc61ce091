if address :is "from" "joerg@example.de" { discard; }
