require "imap4flags";
addflag "\\Seen";
addflag "\\SEEN";
