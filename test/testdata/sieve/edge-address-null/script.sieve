require "fileinto";
if address :is "errors-to" "" { fileinto "empty"; }
if exists "errors-to" { fileinto "exists"; }
