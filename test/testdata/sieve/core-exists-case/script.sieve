if exists "MESSAGE-id" { discard; }
