#!/usr/bin/env bash
# The whole suite, as CI runs it (`make test`), in three pytest runs:
#   1. every test but the browser tests, on two worker processes (pytest-xdist,
#      `-n 2 --dist loadfile`): CI has two cores, and these tests are CPU-bound. Each test
#      file runs whole on one worker, in order: its module fixtures (a demo store) are
#      built once, and the fault tests (subprocesses, file swaps) never race each other.
#      The files go out in collection order, the longest first (tests/conftest.py's
#      LONGEST_FIRST; xdist's own reordering by number of tests is turned off);
#   2. the browser tests (`-m "browser and not bench"`), one at a time: each module starts
#      its own app server and Chromium, which would fight over the two cores;
#   3. the Spark parity tests (`-m spark`), the S3 lake's tests (`-m objectstore`, a
#      minute and a half against moto's S3 server) and the render benchmark's run in
#      Chromium (`-m bench`, its times only checked to be there: 50 s off run 2), in one
#      process beside run 2, niced: each Spark module starts one local Spark (a JVM);
#      without Java they are skipped, saying so.
# All three run even if one fails; the script fails if any does.
# With arguments, it runs exactly one pytest with them and nothing else, e.g.
#   scripts/test.sh -m "not browser and not slow"      (the fast part, one process)
#   scripts/test.sh -n 2 tests/unit                     (a folder on two workers)
# KPI_TEST_WORKERS sets the workers of run 1 (default 2; 0 runs it in one process).
# pytest's exit code 5 ("no tests collected") is a failure here, for each run.
# The seeded demo stores the tests copy are built once for the whole script, in a folder of
# its own (KPI_TEST_DEMO_CACHE, removed at the end), not once per worker and per run.
set -u
cd "$(dirname "$0")/.."

if [ -z "${KPI_TEST_DEMO_CACHE:-}" ]; then
  KPI_TEST_DEMO_CACHE="$(mktemp -d "${TMPDIR:-/tmp}/kpi-test-demos-XXXXXX")"
  trap 'rm -rf "$KPI_TEST_DEMO_CACHE"' EXIT
  export KPI_TEST_DEMO_CACHE
fi

pytest_run() {
  .venv/bin/python -m pytest "$@"
  local rc=$?
  if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure." >&2
    return 1
  fi
  return "$rc"
}

if [ "$#" -gt 0 ]; then
  pytest_run "$@"
  exit $?
fi

workers="${KPI_TEST_WORKERS:-2}"
pytest_run -m "not browser and not spark and not objectstore" -n "$workers" --dist loadfile --no-loadscope-reorder
fast=$?
# The Spark group runs beside the browser group, at a low priority: the browser tests spend
# most of their time waiting for a page to stay idle, which leaves a core free, and a niced
# JVM takes only that (about 2 of CI's 25 minutes saved). Its output is printed after theirs.
spark_log="$(mktemp "${TMPDIR:-/tmp}/kpi-test-spark-XXXXXX.log")"
nice -n 15 bash -c "$(declare -f pytest_run); pytest_run -m 'spark or objectstore or bench'" >"$spark_log" 2>&1 &
spark_pid=$!
pytest_run -m "browser and not bench"
browser=$?
wait "$spark_pid"
spark=$?
cat "$spark_log"
rm -f "$spark_log"
if [ "$fast" -ne 0 ] || [ "$browser" -ne 0 ] || [ "$spark" -ne 0 ]; then
  echo "the suite failed: tests without a browser exit $fast, browser tests exit $browser," \
    "Spark, S3 and render-benchmark tests exit $spark" >&2
  exit 1
fi
exit 0
