require "imap4flags";
addflag ["bad(flag", "$Good"];
