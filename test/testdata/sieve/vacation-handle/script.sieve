require "vacation";
vacation :handle "summer-2026" "Away.";
