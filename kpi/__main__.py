"""`python -m kpi`: see kpi.cli."""

import sys

from kpi.core import collector

collector.COMMAND_PROCESS = True  # a process of its own: see kpi.core.collector
with collector.importing():
    from kpi.cli import main

sys.exit(main())
