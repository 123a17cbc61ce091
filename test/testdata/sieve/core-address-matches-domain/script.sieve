if address :domain :matches ["to", "cc"] "*.net" { discard; }
