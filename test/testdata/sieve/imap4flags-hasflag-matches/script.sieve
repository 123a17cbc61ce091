require "imap4flags";
addflag ["$Label1", "$Label2"];
if hasflag :matches "$Label*" { discard; }
