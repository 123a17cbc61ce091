require "vacation";
vacation :days 5 :subject "Re: away" :from "Bob <bob@example.com>" :addresses "bob@example.com" :handle "h1" "Away.";
