require ["imap4flags", "variables", "fileinto"];
addflag "myflags" "\\Draft";
if hasflag "myflags" "\\Draft" { fileinto :flags "${myflags}" "Drafts"; }
