"""``python -m dlbook.figures``: draw the book's figures (see :mod:`dlbook.figures`)."""

from dlbook.figures import main

raise SystemExit(main())
