"""``python -m tinvnn`` runs the command line."""

import sys

from tinvnn.cli import main

sys.exit(main())
