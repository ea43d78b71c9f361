#!/usr/bin/env bash
# The first hour of a new user: both README commands, each in a fresh virtual
# environment, from the repository root, timed; then the dist build check.
#
#   bash benchmarks/first_hour.sh [OUT.md]      (default benchmarks/results/first_hour.md)
#
# Line 1 installs isobound with the torch extra (not editable) and runs the main job
# on the digits, from scratch (runs/digits is moved aside first and put back after).
# Line 2 installs everything editable and runs the whole test suite.
# Wall times include pip (which reads a local wheel cache on the project's machines).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-benchmarks/results/first_hour.md}"
work="$(mktemp -d)"
trap 'rm -rf "$work"; if [ -d "$work.runs" ]; then rm -rf runs; mv "$work.runs" runs; fi' EXIT
if [ -d runs ]; then mv runs "$work.runs"; fi
export OMP_NUM_THREADS=1

line1='pip install torch==2.13.0 && pip install ".[torch]" && isobound experiment'
line2='pip install torch==2.13.0 && pip install -e ".[all]" && python -m pytest'

timed() {  # name, command: runs it in a fresh venv, prints "seconds status"
    python3 -m venv "$work/$1"
    local t0 t1 rc=0
    t0=$(date +%s.%N)
    (. "$work/$1/bin/activate" && bash -c "$2") >"$work/$1.log" 2>&1 || rc=$?
    t1=$(date +%s.%N)
    python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1])), sys.argv[3])" "$t0" "$t1" "$rc"
}

read -r s1 rc1 < <(timed line1 "$line1")
experiment_seconds="$(python3 -c "import json; print(round(json.load(open('runs/digits/report.json'))['total_seconds']))" 2>/dev/null || echo '?')"
read -r s2 rc2 < <(timed line2 "$line2")
summary="$(grep -E 'passed|failed' "$work/line2.log" | tail -1 | sed -E 's/^=+ //; s/ =+$//')"
{
    echo "# The README's two commands in fresh virtual environments"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(python3 --version), OMP_NUM_THREADS=1."
    echo
    echo "| command | wall time (s) | exit status | detail |"
    echo "| --- | --- | --- | --- |"
    echo "| \`$line1\` | $s1 | $rc1 | experiment alone: ${experiment_seconds} s |"
    echo "| \`$line2\` | $s2 | $rc2 | $summary |"
} | tee "$out"
[ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ]
