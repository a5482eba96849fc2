#!/usr/bin/env bash
# bccreds alone, as a user runs it: N manifests (no mappings, so 2 requests each; tokens as
# `file:` sources), a simulator in another process from a `generate` fixture, and one-shot
# `bccreds apply` runs timed by /usr/bin/time (wall seconds, max RSS in KiB):
#   cold, unchanged, one edited file, unchanged again.
# Usage: examples/bench/oneshot.sh [N]   (after `cargo build --release`)
set -euo pipefail
n=${1:-10000}
bin=${BCCREDS:-$(dirname "$0")/../../target/release/bccreds}
bin=$(realpath "$bin")
work=$(mktemp -d)
# KEEP=1 keeps the directory (manifests, store, fixture) for profiling.
trap 'kill "${sim:-}" 2>/dev/null || true; [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"' EXIT
cd "$work"
mkdir -p m s/tokens
for ((i = 1; i <= n; i++)); do
  printf 'tok-%d' "$i" >"s/tokens/b$i"
  cat >"m/store-$i.yaml" <<EOF
apiVersion: bigcommerce.unopim.io/v1alpha1
kind: BigCommerceCredential
metadata:
  name: store-$i
spec:
  label: Store $i
  apiUrl: https://api.bigcommerce.com/stores/b$i/
  accessToken:
    file: tokens/b$i
EOF
done
cat >fixture.yaml <<EOF
apiVersion: simulator.bccreds.unopim.io/v1
kind: BigCommerceFixture
stores: []
tokens: []
generate:
  - count: $n
    hash: "b{i}"
    token: "tok-{i}"
    latencyMs: 1
    quota: 1000000
    scopes:
      - store_v2_information_read_only
      - store_v2_products_read_only
      - store_channel_settings_read_only
EOF
"$bin" simulate-bigcommerce --listen 127.0.0.1:0 --fixture fixture.yaml >sim.out 2>sim.err &
sim=$!
for _ in $(seq 100); do grep -q http sim.out 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://[^ ]*' sim.out | head -1)
run() {
  /usr/bin/time -f "$1: %e s, %M KiB" "$bin" apply m --secrets-dir s --store sqlite://c.db \
    --bigcommerce-base-url "$url" --concurrency 64 >/dev/null 2>>times || true
  tail -1 times
}
run cold
run unchanged
sed -i 's/^  label: Store 1$/  label: Store 1 edited/' m/store-1.yaml
run "one edited file"
run "unchanged again"
