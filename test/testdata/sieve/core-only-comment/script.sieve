# hash comment
/* bracket
   comment */
