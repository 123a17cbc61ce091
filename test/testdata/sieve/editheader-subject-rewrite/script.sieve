require ["editheader", "variables", "fileinto"];
if header :matches "subject" "*" {
  deleteheader "subject";
  addheader "Subject" "[SPAM] ${1}";
}
if header :is "subject" "[SPAM] You have WON" { fileinto "tagged"; }
