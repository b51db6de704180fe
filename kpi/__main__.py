"""`python -m kpi`: see kpi.cli."""

import sys

from kpi.cli import main

sys.exit(main())
