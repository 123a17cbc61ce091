if address :all :is "from" "ALICE@EXAMPLE.ORG" { discard; }
