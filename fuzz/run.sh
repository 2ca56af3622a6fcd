#!/usr/bin/env bash
# Fuzzing, as CI runs it (.ci/run calls this script): build every target of fuzz/ once,
# then run each for FUZZ_SECONDS (30 by default) from its seed corpus (fuzz/corpus/<target>,
# read only; what the run adds goes to target/fuzz/corpus/<target>, kept between runs).
# Fails on the first crash, panic, timeout (FUZZ_TIMEOUT seconds for one input, 10 by
# default) or out-of-memory; the input that caused it is saved under fuzz/artifacts/<target>/
# and can be replayed with `cargo +nightly fuzz run <target> <file>`.
#
#   bash fuzz/run.sh                        every target, 30 s each
#   FUZZ_SECONDS=3600 bash fuzz/run.sh policy   one target, an hour
#
# cargo-fuzz is pinned and installed into target/ci-tools/ when missing; it needs the
# nightly toolchain (`cargo +nightly`). Targets are built without a sanitizer (orgplan is
# safe Rust: what is looked for is panics, overflows, hangs and memory blow-ups, and a
# sanitizer would halve the executions) and with debug assertions, so an integer
# overflow is a crash as it is in the test build.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=0.13.1
TOOLS=target/ci-tools
SECONDS_EACH=${FUZZ_SECONDS:-30}
TIMEOUT=${FUZZ_TIMEOUT:-10}
FLAGS=(--sanitizer none --debug-assertions --target-dir target/fuzz)

if ! "$TOOLS/bin/cargo-fuzz" --version 2>/dev/null | grep -qF "$VERSION"; then
  echo "-- installing cargo-fuzz $VERSION into $TOOLS"
  cargo install --quiet --locked --root "$TOOLS" cargo-fuzz --version "$VERSION"
fi
export PATH="$PWD/$TOOLS/bin:$PATH"

start=$(date +%s)
cargo +nightly fuzz build "${FLAGS[@]}"
echo "-- built in $(($(date +%s) - start)) s"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

summary=()
for target in "${targets[@]}"; do
  work="target/fuzz/corpus/$target"
  log="target/fuzz/$target.log"
  mkdir -p "$work"
  echo "-- fuzzing $target for $SECONDS_EACH s"
  if ! cargo +nightly fuzz run "${FLAGS[@]}" "$target" "$work" "fuzz/corpus/$target" -- \
    -max_total_time="$SECONDS_EACH" -timeout="$TIMEOUT" -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "FAILED: fuzz target $target crashed; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  summary+=("$target: ${runs:-?} executions in $SECONDS_EACH s, no crash")
done
printf '%s\n' "${summary[@]}"
echo "-- fuzzing took $(($(date +%s) - start)) s"
