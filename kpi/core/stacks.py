"""Every thread's stack on request, for a server that seems stuck.

Why: a page that never finishes drawing (a lock never released, a library waiting for
Python's GIL) shows nothing in the log. `kill -USR1 <pid>` makes the app's server write the
stack of each of its threads to its standard error (the log), without stopping it; Python's
faulthandler does it from the signal handler itself, so it works even when no Python code
can run. The browser tests ask for it when the app never goes idle.
"""

from __future__ import annotations

import faulthandler
import signal
import sys

_registered = False


def stacks_on_signal() -> None:
    """Have SIGUSR1 write every thread's stack to standard error (once per process; not on
    a platform without the signal)."""
    global _registered
    if _registered or not hasattr(signal, "SIGUSR1"):
        return
    faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)
    _registered = True
