#!/usr/bin/env bash
# Merges what fuzzing found (fuzz/corpus/<target>/) into the corpus replayed
# by `cargo test` (tests/fuzz_corpus/<target>/), minimized with
# `cargo fuzz cmin`: on an unoptimized build (`--dev`, whose edges are the
# source's branches rather than unrolled loops) and without hit counters, the
# smallest inputs that together reach every edge the corpus reaches.
# Named files (regression-*, ...) are left as they are; only the
# content-hash-named inputs are merged and minimized.
#
# Usage, from contextvars-tower/: fuzz/update-corpus.sh [target...]
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -eq 0 ]; then
    set -- traceparent tracestate baggage request_id headers
fi

hashed='.*/[0-9a-f]{40}'
for target in "$@"; do
    committed="tests/fuzz_corpus/$target"
    mkdir -p "$committed" "fuzz/corpus/$target"
    # cargo-fuzz renames the minimized corpus into place: stay on one file system.
    staging="$(mktemp -d fuzz/cmin.XXXXXX)"
    trap 'rm -rf "$staging"' EXIT
    # Both directories may hold the same input (same content, same name).
    for dir in "$committed" "fuzz/corpus/$target"; do
        find "$dir" -maxdepth 1 -type f -regextype posix-extended -regex "$hashed" \
            -exec cp -f -t "$staging" {} +
    done
    cargo fuzz cmin -s none --dev "$target" "$staging" -- -use_counters=0 -max_len=16384
    find "$committed" -maxdepth 1 -type f -regextype posix-extended -regex "$hashed" -delete
    cp "$staging"/* "$committed"/
    rm -rf "$staging"
    trap - EXIT
    echo "$target: $(find "$committed" -type f | wc -l) files, $(du -sh --apparent-size "$committed" | cut -f1)"
done
