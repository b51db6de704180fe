"""kpi.core.stacks: a process asked with SIGUSR1 writes every thread's stack and goes on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_ASKED = """
import os, signal, threading, time
from kpi.core.stacks import stacks_on_signal

stacks_on_signal()
stacks_on_signal()  # a second call (every run of app.py makes one) registers nothing more
stuck = threading.Event()

def waiting_for_a_lock_never_released():
    stuck.wait(30)

worker = threading.Thread(target=waiting_for_a_lock_never_released, daemon=True)
worker.start()
time.sleep(0.2)
os.kill(os.getpid(), signal.SIGUSR1)
time.sleep(0.2)
print("still running")
"""


@pytest.mark.skipif(sys.platform == "win32", reason="no SIGUSR1 on Windows")
def test_sigusr1_writes_each_threads_stack_and_the_process_goes_on():
    done = subprocess.run(
        [sys.executable, "-c", _ASKED], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "still running"
    # the stuck thread is named by the function it waits in, with the main thread's stack
    assert "waiting_for_a_lock_never_released" in done.stderr
    assert done.stderr.count("Current thread") == 1  # one signal, one dump
