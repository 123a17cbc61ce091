require "imap4flags";
if hasflag "\\Seen" { discard; }
