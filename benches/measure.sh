#!/usr/bin/env bash
# End-to-end timings of the release binary on synthetic orgs of 1k, 10k and 100k users:
# the YAML parse floor (`orgplan synth --parse-only`: saphyr's parser over every file, one
# after the other, building nothing), `orgplan validate` and
# `orgplan plan --live file:DIR/live.json`; median wall time and median CPU time (user +
# system: orgplan parses and checks on every core, the floor on one) of RUNS runs, peak
# RSS, total policy bytes, and the ratios of issue 7. Prints a markdown table.
#
#   bash benches/measure.sh            # RUNS=5 by default
#   RUNS=3 SIZES="10000 100000" bash benches/measure.sh
#
# Needs GNU time (/usr/bin/time; Debian package `time`).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
SIZES=${SIZES:-"1000 10000 100000"}
if [ ! -x /usr/bin/time ]; then
    echo "measure.sh needs /usr/bin/time: apt-get install time" >&2
    exit 1
fi

cargo build --release --quiet
BIN=$PWD/target/release/orgplan
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# measure CMD...: RUNS runs; prints "median_wall_seconds max_rss_kb median_cpu_seconds".
measure() {
    local times=() cpus=() rss=0
    for _ in $(seq "$RUNS"); do
        /usr/bin/time -v -o "$WORK/time.txt" "$@" >/dev/null 2>"$WORK/stderr.txt" || {
            local code=$?
            # plan exits 0 (or 2 with --detailed-exitcode); anything else is a failure.
            if [ "$code" -ne 0 ]; then cat "$WORK/stderr.txt" "$WORK/time.txt" >&2; exit 1; fi
        }
        local wall kb
        wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/time.txt" |
            awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
        kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")
        cpus+=("$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$WORK/time.txt")")
        times+=("$wall")
        if [ "$kb" -gt "$rss" ]; then rss=$kb; fi
    done
    echo "$(median "${times[@]}") $rss $(median "${cpus[@]}")"
}

median() {
    printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

declare -A PARSE VALIDATE PLAN RSS_V RSS_P BYTES CPU_V CPU_P
for n in $SIZES; do
    dir=$WORK/org-$n
    "$BIN" synth --users "$n" --seed 1 -o "$dir" >/dev/null
    BYTES[$n]=$(cat "$dir"/*.yaml | wc -c)
    read -r PARSE[$n] _ < <(measure "$BIN" synth --parse-only "$dir")
    read -r VALIDATE[$n] RSS_V[$n] CPU_V[$n] < <(measure "$BIN" validate -p "$dir")
    read -r PLAN[$n] RSS_P[$n] CPU_P[$n] < <(measure "$BIN" plan -p "$dir" --live "file:$dir/live.json")
    echo "measured $n users" >&2
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f×", a / b; else print "n/a" }'; }

echo
echo "Median of $RUNS runs; peak RSS is the largest of the runs."
echo
echo "| users | policy | parse floor | validate | plan | validate / floor | plan / floor | CPU: validate, plan | peak RSS (validate, plan) | RSS / policy (plan) |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for n in $SIZES; do
    printf '| %s | %s MB | %s s | %s s | %s s | %s | %s | %s s, %s s | %s MiB, %s MiB | %s |\n' \
        "$n" "$(awk -v b="${BYTES[$n]}" 'BEGIN { printf "%.1f", b / 1e6 }')" \
        "${PARSE[$n]}" "${VALIDATE[$n]}" "${PLAN[$n]}" \
        "$(ratio "${VALIDATE[$n]}" "${PARSE[$n]}")" "$(ratio "${PLAN[$n]}" "${PARSE[$n]}")" \
        "${CPU_V[$n]}" "${CPU_P[$n]}" \
        "$(awk -v k="${RSS_V[$n]}" 'BEGIN { printf "%.0f", k / 1024 }')" \
        "$(awk -v k="${RSS_P[$n]}" 'BEGIN { printf "%.0f", k / 1024 }')" \
        "$(ratio "$((RSS_P[$n] * 1024))" "${BYTES[$n]}")"
done
if [ -n "${PLAN[100000]:-}" ] && [ -n "${PLAN[10000]:-}" ]; then
    echo
    echo "Growth 10k → 100k users: validate $(ratio "${VALIDATE[100000]}" "${VALIDATE[10000]}")," \
        "plan $(ratio "${PLAN[100000]}" "${PLAN[10000]}") (linear would be 10×)."
fi
