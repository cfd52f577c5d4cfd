/* reelgate console: the page (written in the following commits). */
"use strict";
