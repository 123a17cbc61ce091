if allof (exists "subject", header :contains "from" "alice") { discard; }
