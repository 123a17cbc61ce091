require "vacation";
vacation :subject "Out of office" "Away.";
