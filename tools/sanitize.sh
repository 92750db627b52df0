#!/usr/bin/env bash
# Build both C extensions with AddressSanitizer + UndefinedBehaviorSanitizer (clang) in place and
# run the test suite against them. Python itself is not instrumented, so the ASan runtime is
# preloaded, pymalloc is switched off (so ASan sees every allocation) and leak detection is off
# (CPython keeps much alive until exit). greenlet copies C stacks in and out with memcpy, so ASan
# must not instrument our stack frames (-asan-stack=0) nor intercept memcpy (replace_intrin=0).
# Needs: apt-get install clang-14 libclang-rt-14-dev.
#
#   tools/sanitize.sh [pytest args...]      e.g. tools/sanitize.sh -x tests/test_stackless_channel.py
set -euo pipefail
cd "$(dirname "$0")/.."
CLANG=${CLANG:-clang-14}
command -v "$CLANG" >/dev/null || { echo "sanitize.sh: $CLANG not found (apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 2; }
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1 -mllvm -asan-stack=0"
# Objects and the linked extensions (the top-level _stackless and _evemu_marshal) go to a temporary
# folder, first on PYTHONPATH, so that no sanitizer build is left behind for a later
# `pip install .` to pick up or to shadow a normal build.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
CC="$CLANG" LDSHARED="$CLANG -shared" CFLAGS="$SAN" LDFLAGS="$SAN" \
    python setup.py -q build_ext --build-temp "$tmp/temp" --build-lib "$tmp/lib" --force
ASAN_LIB=$("$CLANG" -print-file-name=libclang_rt.asan-x86_64.so)
status=0
LD_PRELOAD="$ASAN_LIB" PYTHONMALLOC=malloc \
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:replace_intrin=0:detect_stack_use_after_return=0 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
PYTHONPATH="$tmp/lib:src:." python -m pytest -q -p no:cacheprovider "$@" || status=$?
exit $status
