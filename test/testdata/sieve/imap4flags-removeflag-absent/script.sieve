require "imap4flags";
addflag "\\Seen";
removeflag "\\Deleted";
