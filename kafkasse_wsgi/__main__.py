"""``python -m kafkasse_wsgi serve …``: the same as the ``kafkasse-wsgi`` command."""

import sys

from ._serve.cli import main

sys.exit(main())
