require ["regex", "body"];
if body :regex "Total: [0-9]+ EUR" { discard; }
