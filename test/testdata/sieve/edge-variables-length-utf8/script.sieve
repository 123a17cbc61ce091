require ["variables", "fileinto"];
if header :matches "x-word" "*" { set :length "n" "${1}"; fileinto "len-${n}"; }
