#!/usr/bin/env bash
# Elixir and locus side by side, in the same run (alternating targets, same minutes):
#
#   Elixir → Elixir    GenServer.call / cast from an Elixir node to an Elixir node's :ping
#   Elixir → locus     the same calls to examples/elixir_bridge's #[gen_server] ping (bl2)
#   locus → Elixir     the bridge's `bench`, `rate` and `casts` commands on the Elixir :ping
#   locus → locus      the same, to a second bridge (locus's own protocol)
#
# 32 B / 4 KiB / 64 KiB call p50/p99, calls/s with 1/8/64 callers, casts/s from one sender.
# Prints key=value rows and the load average beside them. Needs elixir (apt-get install
# elixir); without it, says so and exits 0.
#
#   benches/beam_side_by_side.sh           # the full run (a few minutes)
#   benches/beam_side_by_side.sh --quick   # a smoke run (CI)
#   benches/beam_side_by_side.sh --pin     # callers on CPU 0, targets on CPU 1 (taskset)
set -euo pipefail
cd "$(dirname "$0")/.."
quick=""
on_cpu0=(); on_cpu1=()
for arg in "$@"; do
    case "$arg" in
        --quick) quick="--quick" ;;
        --pin) on_cpu0=(taskset -c 0); on_cpu1=(taskset -c 1) ;;
        *) echo "usage: $0 [--quick] [--pin]" >&2; exit 2 ;;
    esac
done
if ! command -v elixir >/dev/null 2>&1; then
    echo "beam_side_by_side: elixir is not installed; skipped (apt-get install elixir)"
    exit 0
fi
cargo build --release --example elixir_bridge -q
bridge=target/release/examples/elixir_bridge
port=$((20000 + $$ % 9000))          # a private port mapper for this run
export ERL_EPMD_PORT=$port
cookie=side-by-side-bench-cookie-0123456789
tag=$$
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

fifo=$(mktemp -u); mkfifo "$fifo"
"${on_cpu0[@]}" "$bridge" --name "bl1_$tag@127.0.0.1" --cookie $cookie --epmd-port $port <"$fifo" >>"$fifo.out" 2>&1 &
pids+=($!)
exec 3>"$fifo"
"${on_cpu1[@]}" "$bridge" --name "bl2_$tag@127.0.0.1" --cookie $cookie --epmd-port $port </dev/null >"$fifo.bl2" 2>&1 &
pids+=($!)
"${on_cpu1[@]}" elixir --name "be2_$tag@127.0.0.1" --cookie $cookie benches/beam/bench.exs serve >/dev/null 2>&1 &
pids+=($!)
wait_for() { for _ in $(seq 1 300); do grep -aq "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "timed out waiting for $2 in $1" >&2; exit 1; }
wait_for "$fifo.out" "ready bl1_$tag"
wait_for "$fifo.bl2" "ready bl2_$tag"
# An Elixir node takes a second or two to start: wait until the port mapper lists it.
listed=""
for _ in $(seq 1 100); do
    names=$(epmd -port $port -names 2>/dev/null || true)
    grep -q "be2_$tag" <<<"$names" && { listed=yes; break; }
    sleep 0.1
done
[[ -n "$listed" ]] || { echo "timed out waiting for be2_$tag in the port mapper" >&2; exit 1; }

echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)${on_cpu0[*]:+; pinned: callers on CPU 0, targets on CPU 1}"
"${on_cpu0[@]}" elixir --name "be1_$tag@127.0.0.1" --cookie $cookie benches/beam/bench.exs measure \
    "be2_$tag@127.0.0.1" "bl2_$tag@127.0.0.1" $quick |
    while read -r line; do echo "$line load=$(cut -d' ' -f1 /proc/loadavg)"; done

calls=10000; rounds=3
[[ -n "$quick" ]] && { calls=200; rounds=1; }
for round in $(seq 1 $rounds); do
    for size in 32 4096 65536; do
        for target in "be2_$tag@127.0.0.1" "bl2_$tag@127.0.0.1"; do
            : >"$fifo.out"
            echo "bench $target $calls $size" >&3
            wait_for "$fifo.out" "^bench "
            line=$(grep -a "^bench " "$fifo.out")
            echo "row round=$round from=bl1 target=${target%%@*} kind=call bytes=$size ${line#bench } load=$(cut -d' ' -f1 /proc/loadavg)"
        done
    done
done
secs=3; casts=100000
[[ -n "$quick" ]] && { secs=1; casts=2000; }
ask() { : >"$fifo.out"; echo "$1" >&3; wait_for "$fifo.out" "^$2 "; grep -a "^$2 " "$fifo.out"; }
for round in $(seq 1 $rounds); do
    for callers in 1 8 64; do
        for target in "be2_$tag@127.0.0.1" "bl2_$tag@127.0.0.1"; do
            line=$(ask "rate $target $callers $secs" rate)
            echo "row round=$round from=bl1 target=${target%%@*} kind=throughput callers=$callers ${line#rate } load=$(cut -d' ' -f1 /proc/loadavg)"
        done
    done
done
for round in $(seq 1 $rounds); do
    for target in "be2_$tag@127.0.0.1" "bl2_$tag@127.0.0.1"; do
        line=$(ask "casts $target $casts" casts)
        echo "row round=$round from=bl1 target=${target%%@*} kind=casts ${line#casts } load=$(cut -d' ' -f1 /proc/loadavg)"
    done
done
exec 3>&-
rm -f "$fifo" "$fifo.out" "$fifo.bl2"
