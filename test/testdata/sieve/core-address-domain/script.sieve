if address :domain :is "from" "Example.ORG" { discard; }
