require ["duplicate", "fileinto"];
if duplicate :handle "list" { discard; } else { fileinto "first"; }
