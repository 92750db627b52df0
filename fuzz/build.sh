#!/bin/sh
# Build the libFuzzer harness (fuzz_marshal.c + every src/marshal/*.c) with ASan and UBSan.
#   fuzz/build.sh            -> build/fuzz_marshal (build/ is git-ignored)
# Run (corpus = the test vectors; see fuzz/README.md):
#   PYTHONMALLOC=malloc ASAN_OPTIONS=detect_leaks=0 build/fuzz_marshal -max_total_time=60 \
#       /tmp/fz/corpus tests/vectors/*/
set -eu
mkdir -p "$(dirname "$0")/../build"
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
CC=${CC:-clang-14}
PYINC=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
PYLIB=$(python3 -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')
PYVER=$(python3 -c 'import sysconfig; print(sysconfig.get_config_var("LDVERSION"))')
$CC -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -Wall -Wextra \
    -DEVEMU_REPO_DEFAULT="\"$repo\"" -I"$PYINC" -I"$repo/src/marshal" \
    "$here/fuzz_marshal.c" "$repo"/src/marshal/*.c \
    -L"$PYLIB" -Wl,-rpath,"$PYLIB" -lpython"$PYVER" -lm \
    -o "$repo/build/fuzz_marshal"
echo "built $repo/build/fuzz_marshal"
