#!/usr/bin/env bash
# Where the slow calls go: one caller's 32 B calls (`locus bench --concurrency 1`) to a
# `locus node` in another process, with the kernel's scheduler events and the two
# processes' socket calls recorded (`perf record -a`, root), then classified by
# benches/tail_trace.py: which leg of the slow rounds was slow, whether the thread that
# finally read was running, asleep or preempted meanwhile, and who held the cores.
#
#   benches/tail_trace.sh [CALLS]                       # 20,000 calls by default
#   TOKIO_WORKER_THREADS=1 benches/tail_trace.sh        # one worker thread per node
#   LOCUS_BIN=/path/to/locus benches/tail_trace.sh      # another build of the binary
#   KEEP=/tmp/trace.txt benches/tail_trace.sh           # keep the decoded trace
#
# Needs perf with tracepoints and python3. Tracing costs a little: compare the traced p99
# with an untraced `locus bench` of the same minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-20000}
for tool in perf python3; do
    command -v $tool >/dev/null || { echo "tail_trace: needs $tool"; exit 1; }
done
bin=${LOCUS_BIN:-}
if [[ -z "$bin" ]]; then
    cargo build --release --bin locus -q
    bin=target/release/locus
fi
port=$((20000 + $$ % 9000))
dir=$(mktemp -d)
trap 'kill $callee 2>/dev/null || true; rm -rf "$dir"' EXIT
"$bin" node --name "trace_callee_$$@127.0.0.1" --cookie tail-trace --epmd-port $port >"$dir/callee.out" 2>&1 &
callee=$!
for _ in $(seq 1 100); do grep -q . "$dir/callee.out" && break; sleep 0.1; done
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg), worker threads: ${TOKIO_WORKER_THREADS:-tokio default}"
perf record -a -q -m 4096 -o "$dir/perf.data" \
    -e sched:sched_switch,sched:sched_wakeup,syscalls:sys_enter_sendto,syscalls:sys_exit_recvfrom -- \
    "$bin" bench "trace_callee_$$@127.0.0.1" --cookie tail-trace --epmd-port $port \
    --calls "$calls" --concurrency 1 --json | grep -o '"p50_us[^}]*' | sed 's/,"floor.*//;s/^/# locus bench, traced: /'
perf script -i "$dir/perf.data" -F comm,pid,tid,cpu,time,event,trace 2>/dev/null >"$dir/trace.txt"
python3 benches/tail_trace.py "$callee" "$dir/trace.txt" --show "${SHOW:-2}"
if [[ -n "${KEEP:-}" ]]; then cp "$dir/trace.txt" "$KEEP"; echo "# trace kept in $KEEP (callee pid $callee)"; fi
