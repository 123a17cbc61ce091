require ["fileinto", "envelope"];
fileinto "Inbox.Sub";
