if not not exists "subject" { discard; }
