require "imap4flags";
addflag "\\Seen \\Answered $Work";
