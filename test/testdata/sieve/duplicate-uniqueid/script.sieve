require ["duplicate", "variables"];
if header :matches "subject" "*" { set "s" "${1}"; }
if duplicate :uniqueid "${s}" :last { discard; }
