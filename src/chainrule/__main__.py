"""``python -m chainrule`` runs the command-line tool."""

import sys

from .cli.main import main

sys.exit(main())
