if allof (exists "subject", false) { discard; }
