require ["vacation", "fileinto"];
fileinto "Work";
vacation :days 2 :subject "Away" "Back soon.";
