require ["regex", "variables", "fileinto"];
if header :regex "x-priority" "(3|33)" { fileinto "m-${1}"; }
if header :regex "subject" "(Your|Your invoice) ?(.*)" { fileinto "g-${1}|${2}"; }
