require ["environment", "variables", "fileinto"];
if environment :matches "phase" "*" { fileinto "phase-${1}"; }
