if address :user "from" "x" { keep; }
