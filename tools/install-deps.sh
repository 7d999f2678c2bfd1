#!/usr/bin/env bash
# Installs the Debian 12 packages mmrt needs to build, test and fuzz. Safe to re-run.
set -euo pipefail
packages=(
  build-essential cmake pkg-config          # toolchain
  libdnnl-dev                               # oneDNN: GEMMs on the CPU (AMX/AVX512-BF16/AVX-512/AVX2)
  libopenblas-dev                           # the benchmark's f32 GEMM comparison (bench/gemm_peak.c)
  libcjson-dev                              # config.json, tokenizer.json, safetensors headers
  libpcre2-dev                              # tokenizer pre-tokenizer regexes (Unicode classes)
  libcurl4-openssl-dev                      # Hugging Face downloads
  libssl-dev                                # sha256 of downloaded blobs (libcrypto)
  libpng-dev libjpeg62-turbo-dev libwebp-dev  # image decoding
  libsndfile1-dev libsoxr-dev               # audio decoding, resampling to 16 kHz
  libkissfft-dev                            # FFT of the log-mel features (BSD; FFTW is GPL)
  libcriterion-dev                          # tests
  clang libclang-rt-14-dev                  # libFuzzer targets
  abigail-tools                             # abidiff against the ABI baseline (tools/abi-check.sh)
  python3                                   # test helpers (standard library only)
  xz-utils                                  # the GPU check bundle's payload (tools/gpu-bundle.sh)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
