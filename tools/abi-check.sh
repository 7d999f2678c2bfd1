#!/usr/bin/env bash
# Compares libmmrt's ABI with the committed baseline abi/libmmrt.abi (libabigail's abidw/abidiff),
# as include/mmrt.h's "Compatibility" section promises: within one MMRT_ABI_VERSION, functions and
# enum values may be added and the size-prefixed structs may grow at their end; anything
# incompatible fails. The library is built with debug info (RelWithDebInfo) in build/abi.
#
#   tools/abi-check.sh            compare (CI)
#   tools/abi-check.sh --update   rewrite the baseline (after an intended change; bump
#                                 MMRT_ABI_VERSION first if the change is incompatible)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v abidiff >/dev/null || { echo "abi-check: needs abidiff (Debian's abigail-tools; tools/install-deps.sh)" >&2; exit 1; }
cmake -S . -B build/abi -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMMRT_CUDA=OFF -DMMRT_BUILD_TESTS=OFF \
  -DMMRT_BUILD_BENCH=OFF -DMMRT_BUILD_SAMPLES=OFF >/dev/null
cmake --build build/abi -j "$(nproc)" --target mmrt >/dev/null
lib=$(readlink -f build/abi/libmmrt.so)
abi=$(sed -n 's/^#define MMRT_ABI_VERSION \([0-9]*\)$/\1/p' include/mmrt.h)
if [ "${1:-}" = "--update" ]; then
  abidw --headers-dir include --drop-private-types --no-show-locs --no-corpus-path --out-file abi/libmmrt.abi "$lib"
  echo "abi-check: wrote abi/libmmrt.abi (ABI $abi, $(grep -c '<elf-symbol ' abi/libmmrt.abi) symbols)"
  exit 0
fi
baseline_soname=$(sed -n 's/.*soname=.\(libmmrt\.so\.[0-9]*\).*/\1/p' abi/libmmrt.abi | head -n1)
if [ "$baseline_soname" != "libmmrt.so.$abi" ]; then
  echo "abi-check: MMRT_ABI_VERSION is $abi but the baseline is $baseline_soname: a new ABI needs a new baseline (tools/abi-check.sh --update)" >&2
  exit 1
fi
set +e
abidiff --headers-dir2 include --drop-private-types --no-show-locs abi/libmmrt.abi "$lib" > build/abi/abidiff.txt
rc=$?
set -e
cat build/abi/abidiff.txt
# abidiff's exit status is a bit field: 1 error, 2 usage, 4 ABI change, 8 incompatible change
if (( rc & 3 )); then echo "abi-check: abidiff failed ($rc)" >&2; exit 1; fi
if (( rc & 8 )); then echo "abi-check: incompatible ABI change for libmmrt.so.$abi (see above)" >&2; exit 1; fi
if (( rc & 4 )); then echo "abi-check: compatible additions to libmmrt.so.$abi (update the baseline with --update when they are final)"; fi
echo "abi-check: libmmrt.so.$abi is compatible with abi/libmmrt.abi"
