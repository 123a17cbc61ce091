require ["imap4flags", "fileinto"];
if header :is "x-spam-status" "Yes" {
  addflag "\\Seen";
  fileinto "Junk";
  stop;
}
