#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds each (default 20), starting from the
# committed seed corpus. New inputs go to a temporary directory so the tree stays clean.
# cargo-fuzz runs on stable Rust with --sanitizer none (libFuzzer's coverage guidance
# still applies; panics and assertion failures are the crashes it finds).
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-20}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
cargo fuzz build --sanitizer none --fuzz-dir . >/dev/null
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
passed=0
failed=0
for target in proxy_protocol routes config; do
  mkdir -p "$scratch/$target"
  if cargo fuzz run --sanitizer none --fuzz-dir . "$target" "$scratch/$target" "corpus/$target" \
      -- -max_total_time="$seconds" -print_final_stats=0 >"$scratch/$target.log" 2>&1; then
    echo "fuzz $target: $(grep -Eo 'Done [0-9]+ runs' "$scratch/$target.log" | tail -1) in ${seconds}s, no crash"
    passed=$((passed + 1))
  else
    echo "fuzz $target: CRASH (see tests/fuzz/artifacts/$target)"
    tail -30 "$scratch/$target.log"
    failed=$((failed + 1))
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
