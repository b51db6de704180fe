"""Reading an uploaded file in a child process under a memory limit and a time limit.

Parsing an untrusted file is where memory can run away: a workbook whose last cell sits at
XFD1048576 makes the Excel reader ask for half a terabyte, a Parquet column may decode to
far more than its footer admits. In the server process (the Streamlit app, or the CLI) that
aborts the process for every user; in a child with RLIMIT_DATA it fails that one load.

The child reads the file exactly as `readers.open_source` does in process, writes the
Source's fields as JSON once the file is open, then each batch of rows as an Arrow IPC file
in a temporary folder, and last a result (the count of batches, or the refusal) as JSON;
the parent hands the pipeline a Source whose batches it takes as they come (checking and
writing one while the child reads the next), removing each once read. A
refusal comes back as its message and is raised again in the parent, at the same step as
in process: on opening, or after the batches read before it. The limit bounds resources;
the child is no security boundary (it runs our own code, as the same user).

A CSV file of a few megabytes (IN_PROCESS_MAX_BYTES) is read in this process instead: its
reading cannot come near either limit, and a child would cost more than the rest of a
small load.

RLIMIT_DATA, not RLIMIT_AS: polars' allocator and its threads reserve far more address
space than they use, so an address-space limit fails at start-up before any data is read;
RLIMIT_DATA counts the heap and private mappings actually asked for.
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

import kpi
from kpi.core.lease import process_alive
from kpi.ingest import readers
from kpi.ingest.mappings import Mapping
from kpi.ingest.readers import Progress, Source
from kpi.ingest.report import LoadRefused
from kpi.ingest.upload_checks import UploadRefused, env_limit

# A CSV or Parquet file streams through in batches (a 230 MB CSV peaks at 0.7 GB); a
# workbook is read whole, at about 30 times its file size (a 200 MB .xlsx, the app's upload
# limit, needs some 6.5 GB). 8 GB lets those through and stops what no export needs, on a
# machine of 24 GB. KPI_LOAD_MEMORY_MB and KPI_LOAD_TIMEOUT_S override them.
DEFAULT_MEMORY_MB = 8_000
DEFAULT_TIMEOUT_S = 1_800  # a 230 MB CSV reads in 15 s here; a 200 MB workbook in minutes
_MEMORY_ENV, _TIMEOUT_ENV = "KPI_LOAD_MEMORY_MB", "KPI_LOAD_TIMEOUT_S"
_RESULT, _REQUEST = "result.json", "request.json"
_FOLDER_PREFIX = "kpi-read-"  # then the reading process's id and a random part
_OPENED, _STDERR = "source.json", "stderr.txt"  # the Source's fields; what the child said
_POLL_S = 0.01  # how often the parent looks for the child's next file
# A small CSV file is read in this process: a child costs half a second or more to start
# (Python, then polars), most of a small load, and a CSV cannot make its reader run away.
# Reading CSV text streams (a 230 MB file peaks at 0.7 GB, 3 bytes a byte, in 15 s): taking
# ten times that, plus a fixed cost for the reader's threads and buffers, a file passes when
# that estimate stays far inside both limits. Excel and Parquet always go to the child (a
# packed file can unpack to anything), and so does any CSV when a limit is set very low.
IN_PROCESS_MAX_BYTES = 4_000_000
_CSV_MEMORY_PER_BYTE, _CSV_MEMORY_FIXED_MB = 30, 500
_CSV_SECONDS_PER_BYTE, _CSV_SECONDS_FIXED = 1e-6, 5.0
# What a child that ran out of memory leaves on its standard error
_OUT_OF_MEMORY = ("memory allocation of", "MemoryError", "Cannot allocate memory", "out of memory")
_OUT_OF_MEMORY += ("thread creation failed",)  # jemalloc, when a thread gets no stack


def open_bounded(path: Path, mapping: Mapping | None, cleanup: ExitStack, say: Progress) -> Source:
    """`readers.open_source`, read in a child process under the load's memory and time
    limits; the batches wait in a temporary folder that `cleanup` removes. A small CSV file
    is read in this process (see IN_PROCESS_MAX_BYTES)."""
    readers.announce(path, say)
    try:
        memory_mb = env_limit(_MEMORY_ENV, DEFAULT_MEMORY_MB, "a number of megabytes")
        seconds = env_limit(_TIMEOUT_ENV, DEFAULT_TIMEOUT_S, "a number of seconds")
    except UploadRefused as exc:
        raise LoadRefused(str(exc)) from None
    if _small_csv(path, memory_mb, seconds):
        return readers.read_source(path, mapping, cleanup)
    _remove_orphans(Path(tempfile.gettempdir()))
    prefix = f"{_FOLDER_PREFIX}{os.getpid()}-"  # whose it is: see _remove_orphans
    folder = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))
    request = {
        "path": str(path),
        "mapping": asdict(mapping) if mapping else None,
        "batch_rows": readers.BATCH_ROWS,
        "memory_bytes": int(memory_mb * 1_000_000),
    }
    _temporary_file(folder / _REQUEST, json.dumps(request))
    command = [sys.executable, "-P", "-m", "kpi.ingest.sandbox", str(folder)]
    with (folder / _STDERR).open("wb") as stderr:
        process = subprocess.Popen(
            command, env=_child_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=stderr,
        )  # fmt: skip
    cleanup.callback(_stop, process)  # before the folder goes (an ExitStack unwinds backwards)
    child = _Child(path, folder, process, time.monotonic() + seconds, memory_mb, seconds)
    result = child.wait_for(_OPENED)
    if result is None:
        fields = json.loads((folder / _OPENED).read_text(encoding="utf-8"))
    elif result["source"] is None:
        raise _raised(path, result["error"], memory_mb)
    else:
        fields = result["source"]
    return Source(path=path, batches=child.batches, **fields)


def _remove_orphans(where: Path) -> None:
    """Remove the batch folders of loads whose process is gone (killed mid-read: a
    TemporaryDirectory is not removed when its process dies, and a big file's batches are
    tens of megabytes). A folder names the process that made it; one of a process still
    running, of another user's, or without a process in its name is left alone."""
    try:
        folders = [f for f in where.iterdir() if f.name.startswith(_FOLDER_PREFIX)]
    except OSError:
        return
    for folder in folders:
        pid, _, rest = folder.name.removeprefix(_FOLDER_PREFIX).partition("-")
        if pid.isdigit() and rest and not process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


@dataclass
class _Child:
    """The reading child, followed from the parent: the Source's fields once the file is
    open, then each batch as soon as it is written, so that the parent checks and writes
    one batch while the child reads the next (a big CSV loads in the time of the slower of
    the two, not of both one after the other)."""

    path: Path
    folder: Path
    process: subprocess.Popen
    deadline: float
    memory_mb: float
    seconds: float

    def wait_for(self, name: str) -> dict | None:
        """None once the child has written `name`; its result if it ended without it. A
        child that overruns the time limit is killed; one that dies says why."""
        while True:
            if (self.folder / name).is_file():
                return None
            if (self.folder / _RESULT).is_file():  # written last: every batch is there
                if (self.folder / name).is_file():
                    return None
                return json.loads((self.folder / _RESULT).read_text(encoding="utf-8"))
            if self.process.poll() is not None and not (self.folder / _RESULT).is_file():
                if (self.folder / name).is_file():
                    return None
                said = (self.folder / _STDERR).read_bytes().decode("utf-8", "replace")
                raise _stopped(self.path, self.process.returncode, said, self.memory_mb)
            if time.monotonic() > self.deadline:
                _stop(self.process)
                raise LoadRefused(
                    f"{self.path}: reading it took longer than the load time limit of "
                    f"{self.seconds:g} s; {_what_to_do(self.path)} or raise KPI_LOAD_TIMEOUT_S"
                )
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=_POLL_S)

    def batches(self) -> Iterator[pl.DataFrame]:
        """The child's batches in order, each removed once read; then its refusal, if any."""
        for number in itertools.count():
            batch = self.folder / _batch_name(number)
            result = self.wait_for(batch.name)
            if result is None:
                frame = pl.read_ipc(batch)
                batch.unlink()
                yield frame
                continue
            if result["error"]:
                raise _raised(self.path, result["error"], self.memory_mb)
            return


def _stop(process: subprocess.Popen) -> None:
    """Kill the child if it still runs (a load that ended early, a time limit)."""
    if process.poll() is None:
        process.kill()
    process.wait()


def _small_csv(path: Path, memory_mb: float, seconds: float) -> bool:
    """Whether the file is a CSV small enough to read in this process (see
    IN_PROCESS_MAX_BYTES): what reading it can cost stays far inside both limits."""
    if path.suffix.lower() not in readers.CSV_SUFFIXES:
        return False
    size = path.stat().st_size
    memory = _CSV_MEMORY_FIXED_MB + size * _CSV_MEMORY_PER_BYTE / 1e6
    time_s = _CSV_SECONDS_FIXED + size * _CSV_SECONDS_PER_BYTE
    return size <= IN_PROCESS_MAX_BYTES and memory <= memory_mb and time_s <= seconds


def _raised(path: Path, error: dict, memory_mb: float) -> Exception:
    """The exception the child caught, to raise in the parent."""
    if error["kind"] == "refused":
        return LoadRefused(error["message"])
    if error["kind"] == "memory":
        return _out_of_memory(path, memory_mb)
    if error["kind"] == "os" and error["errno"] is not None:  # e.g. the temporary folder full
        return OSError(error["errno"], error["strerror"], error["filename"])
    if error["kind"] == "os":
        return OSError(error["message"])
    return LoadRefused(f"{path} cannot be read: {error['message']}")


def _stopped(path: Path, returncode: int, said: str, memory_mb: float) -> LoadRefused:
    """Why a child ended without a result: the memory limit (Rust aborts on a failed
    allocation; the kernel kills on memory pressure) or an unexpected crash."""
    if returncode == -signal.SIGKILL or any(s in said for s in _OUT_OF_MEMORY):
        return _out_of_memory(path, memory_mb)
    last = next((line for line in reversed(said.splitlines()) if line.strip()), "")
    how = f"signal {-returncode}" if returncode < 0 else f"exit {returncode}"
    return LoadRefused(
        f"{path} cannot be read: the reader stopped ({how}{': ' + last[:200] if last else ''});"
        f" {_what_to_do(path)}"
    )


def _out_of_memory(path: Path, memory_mb: float) -> LoadRefused:
    return LoadRefused(
        f"{path} needs more memory than the load limit of {memory_mb:,.0f} MB allows; "
        f"{_what_to_do(path)} or raise KPI_LOAD_MEMORY_MB"
    )


def _what_to_do(path: Path) -> str:
    if path.suffix.lower() in readers.CSV_SUFFIXES:
        return "split the export (by month, for example)"
    return "save it as CSV (read in batches) or split the export (by month, for example),"


def _child_env() -> dict[str, str]:
    """The parent's environment, with this copy of `kpi` first on the path (-P keeps the
    working folder off it) and Rust's backtraces off (a failed allocation says one line)."""
    root = str(Path(kpi.__file__).resolve().parents[1])
    paths = [root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return os.environ | {"PYTHONPATH": os.pathsep.join(paths), "RUST_BACKTRACE": "0"}


def _start_threads(folder: Path) -> None:
    """Start polars' thread pools before the limit applies: a thread that cannot get its
    stack under the limit leaves polars waiting for it forever (until the time limit)
    instead of failing, so every pool the readers use is started while memory is free."""
    tiny = folder / "start.csv"
    _temporary_file(tiny, "a\n1\n")
    for _batch in pl.scan_csv(tiny).with_row_index(readers.ROW).collect_batches(chunk_size=1):
        pass
    tiny.unlink()


def _temporary_file(path: Path, text: str) -> None:
    """Write one of the reading's own files in its temporary folder, whole or not at all
    (the parent never reads half a result)."""
    part = path.with_name(path.name + ".part")
    part.write_text(text, encoding="utf-8")
    part.replace(path)


def _batch_name(number: int) -> str:
    return f"batch-{number:06d}.arrow"


# ---- the child ---------------------------------------------------------------------------
def _child(folder: Path) -> None:
    """Read the requested file under the memory limit; leave its batches and result.json."""
    request = json.loads((folder / _REQUEST).read_text(encoding="utf-8"))
    limit = request["memory_bytes"]
    readers.BATCH_ROWS = request["batch_rows"]  # as the parent has it (tests lower it)
    mapping = Mapping(**request["mapping"]) if request["mapping"] else None
    result: dict = {"source": None, "batches": 0, "error": None}
    try:
        _start_threads(folder)  # may meet a full temporary folder: reported like the rest
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
        with ExitStack() as cleanup:
            source = readers.read_source(Path(request["path"]), mapping, cleanup)
            result["source"] = {
                name: getattr(source, name)
                for name in ("kind", "columns", "content_hash", "line_label", "first_rows")
                + ("header_at", "hint", "sheet")
            }
            _temporary_file(folder / _OPENED, json.dumps(result["source"]))
            for number, frame in enumerate(source.batches()):
                batch = folder / _batch_name(number)  # whole or not at all, as the rest
                part = batch.with_name(batch.name + ".part")
                frame.write_ipc(part, compression="uncompressed")
                part.replace(batch)
                result["batches"] = number + 1
    except MemoryError:
        result["error"] = {"kind": "memory"}
    except LoadRefused as exc:
        result["error"] = {"kind": "refused", "message": str(exc)}
    except OSError as exc:
        result["error"] = {"kind": "os", "message": str(exc), "errno": exc.errno}
        result["error"] |= {"strerror": exc.strerror, "filename": exc.filename}
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which refuses the file
        first = (str(exc).strip().splitlines() or [""])[0]
        result["error"] = {"kind": "other", "message": f"{type(exc).__name__}: {first}"}
    _temporary_file(folder / _RESULT, json.dumps(result))


if __name__ == "__main__":
    _child(Path(sys.argv[1]))
