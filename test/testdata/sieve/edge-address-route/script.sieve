if address :is "reply-to" "rr@example.org" { discard; }
