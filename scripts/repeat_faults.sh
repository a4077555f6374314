#!/usr/bin/env bash
# Run the PostgreSQL fault tests (tests/faults) N times in a row and count the passes.
#
#   scripts/repeat_faults.sh [N] [pytest arguments, default: tests/faults]
#   scripts/repeat_faults.sh 20                                   # all fault tests, 20 times
#   scripts/repeat_faults.sh 5 tests/faults -k restarts           # the restart test, 5 times
#   scripts/repeat_faults.sh 10 tests/faults/test_store_faults.py # the store's alone
#
# Each run starts its own private PostgreSQL cluster (tests/_pgcluster.py; the server
# binaries must be installed). The measured figures each test prints (resume time of
# an answer after the fault, errors seen) are kept; the logs of failed runs are left in
# a temporary directory named at the end. Exits 1 if any run failed.
set -uo pipefail
cd "$(dirname "$0")/.."

runs="${1:-10}"
shift || true
[ "$#" -gt 0 ] || set -- tests/faults
python="${PYTHON:-.venv/bin/python}"
logs="$(mktemp -d -t wf-faults-XXXXXX)"
passed=0
failed=0
for i in $(seq 1 "$runs"); do
    log="$logs/run-$i.log"
    start=$(date +%s)
    if "$python" -m pytest -q -s -p no:cacheprovider "$@" >"$log" 2>&1; then
        passed=$((passed + 1))
        verdict="passed"
    else
        failed=$((failed + 1))
        verdict="FAILED (log: $log)"
    fi
    echo "== run $i/$runs: $verdict in $(($(date +%s) - start)) s"
    # The figures the tests print (after pytest's progress characters).
    grep -hoE "(listener ended|frozen listener|terminated backends|restarted the server|[0-9]+ calls succeeded).*" \
        "$log" | sed 's/^/   /' || true
    [ "$verdict" = "passed" ] && rm -f "$log"
done
echo "$passed of $runs runs passed, $failed failed"
[ "$failed" -eq 0 ] && rmdir "$logs" 2>/dev/null
[ "$failed" -eq 0 ]
