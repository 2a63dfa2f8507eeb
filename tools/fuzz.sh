#!/usr/bin/env bash
# make fuzz: runs every fuzz target for FUZZ_SECONDS (each) from the committed seed corpus
# (fuzz/corpus/<target>, read-only) plus a working corpus kept between runs
# (fuzz/target/corpus/<target>, not committed), then prints one line per target.
# A crash leaves its input in fuzz/artifacts/<target>/ and makes the run fail.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:?seconds per target}
shift
targets=("$@")
# cargo-fuzz as make installed it (a pinned version under .tools/), else the one on PATH.
if [ -n "${CARGO_FUZZ:-}" ]; then PATH="$(cd "$(dirname "$CARGO_FUZZ")" && pwd):$PATH"; fi
logs=fuzz/target/logs
mkdir -p "$logs"

# Debug assertions and overflow checks on: an overflow is a finding even where release wraps.
echo "fuzz: building ${#targets[@]} targets (nightly, libFuzzer, address sanitizer)"
cargo +nightly fuzz build --debug-assertions >"$logs/build.log" 2>&1 \
  || { cat "$logs/build.log"; exit 1; }

rows=()
failed=0
for t in "${targets[@]}"; do
  work=fuzz/target/corpus/$t
  mkdir -p "$work" "fuzz/artifacts/$t"
  before=$(find "fuzz/artifacts/$t" -type f | wc -l)
  start=$(date +%s)
  set +e
  cargo +nightly fuzz run --debug-assertions "$t" "$work" "fuzz/corpus/$t" -- \
    -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$logs/$t.log" 2>&1
  status=$?
  set -e
  elapsed=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$t.log" | tail -1)
  corpus=$(find "$work" -type f | wc -l)
  seeds=$(find "fuzz/corpus/$t" -type f | wc -l)
  crashes=$(( $(find "fuzz/artifacts/$t" -type f | wc -l) - before ))
  if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes="? (exit $status, see $logs/$t.log)"; fi
  [ "$status" -ne 0 ] && failed=1
  rows+=("$(printf '| %-20s | %7s | %12s | %8s | %7s + %-5s | %s |' "$t" "$elapsed" "${execs:-?}" "${rate:-?}" "$seeds" "$corpus" "$crashes")")
done

echo
echo "| target               | seconds |   executions |   exec/s | corpus (seeds + found) | crashes |"
echo "|----------------------|---------|--------------|----------|------------------------|---------|"
printf '%s\n' "${rows[@]}"
if [ "$failed" -ne 0 ]; then
  echo "fuzz: a target failed; inputs in fuzz/artifacts/<target>/, logs in $logs/" >&2
  exit 1
fi
