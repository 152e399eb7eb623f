#!/usr/bin/env bash
# End-to-end benchmark of tamper evidence: `agentrail ingest` of a generated
# file (each seal now also hashes its files into the digest chain and signs
# a checkpoint), then `agentrail verify` of the store, against the least any
# verification must do: hashing the same files with `sha256sum` (coreutils)
# and with `openssl dgst -sha256` (SHA-NI where the CPU has it), in the same run.
#
#   bench-data/scripts/verify.sh [EVENTS] [SEED]
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=common.sh
source bench-data/scripts/common.sh

events=${1:-1000000}
seed=${2:-42}

bench_setup "$events" "$seed"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

python3 - "$file" "$out" <<'PY'
import os, subprocess, sys, time
file, out = sys.argv[1], sys.argv[2]
store = f"{out}/store"
lines = sum(1 for _ in open(file, "rb"))
start = time.perf_counter()
subprocess.run(["./target/release/agentrail", "ingest", "--data-dir", store, file], stdout=subprocess.DEVNULL, check=True)
ingest = time.perf_counter() - start
files = sorted(os.path.join(d, f) for top in ("segments", "index") for d, _, fs in os.walk(f"{store}/{top}") for f in fs
               if not f.startswith("."))
size = sum(os.path.getsize(f) for f in files)
print(f"ingest: {lines} events in {ingest:.1f} s ({lines / ingest:,.0f} events/s), "
      f"{len(files)} files, {size / 2**20:.0f} MiB of segments and index parts")

def best(cmd):
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return min(times)

verify = best(["./target/release/agentrail", "verify", "--data-dir", store])
sha = best(["sha256sum", *files])
openssl = best(["openssl", "dgst", "-sha256", *files])
print(f"agentrail verify (hashes, chain, checkpoints, manifest) {verify:6.2f} s  {size / verify / 1e6:7.0f} MB/s")
print(f"sha256sum of the same files (baseline)                 {sha:6.2f} s  {size / sha / 1e6:7.0f} MB/s")
print(f"openssl dgst -sha256 of the same files (baseline)      {openssl:6.2f} s  {size / openssl / 1e6:7.0f} MB/s")
print(f"ratio: verify takes {verify / sha:.2f}x the time of sha256sum, {verify / openssl:.2f}x that of openssl")
PY
