if environment "location" "MS" { discard; }
