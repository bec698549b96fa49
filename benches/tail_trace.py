#!/usr/bin/env python3
"""Where the slow calls of `locus bench --concurrency 1` go, from kernel scheduler events.

Reads `perf script -F comm,pid,tid,cpu,time,event,trace` output of a recording with the
events sched:sched_switch, sched:sched_wakeup, syscalls:sys_enter_sendto and
syscalls:sys_exit_recvfrom (benches/tail_trace.sh makes it), and the callee's pid.

A call is four points: the caller sends the request (A), the callee reads it (B), the
callee sends the reply (C), the caller reads it (D). For every round slower than --slow
microseconds it finds the slow leg (A->B: request in flight, B->C: the callee at work,
C->D: reply in flight, D->A: the caller between calls) and says what the thread that
finally read was doing meanwhile:

  running       on a core all along, yet it did not read (it had not learned of the data)
  waiting       runnable from before the data came, off its core until it read
  slept         asleep when the data came; then how long until it was woken, and how long
                from its wake-up until it had a core
  preempted     taken off its core by another thread

and which threads held the cores while woken readers waited for one. It prints the
slowest rounds' event timelines last.

    python3 benches/tail_trace.py CALLEE_PID trace.txt [--slow 100] [--show 3]
"""

import argparse
import collections
import re

LINE = re.compile(r"^\s*(.+?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$")


def read(path):
    events = []
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if m:
                comm, pid, tid, cpu, t, event, rest = m.groups()
                events.append((float(t) * 1e6, int(pid), int(tid), int(cpu), comm.strip(), event, rest))
    return events


def points(events, caller, callee):
    """The A/B/C/D points, in time order: (time, kind, index in events, tid)."""
    out = []
    for i, (t, pid, tid, _cpu, comm, event, rest) in enumerate(events):
        if pid not in (caller, callee) or comm != "tokio-rt-worker":
            continue
        if event == "syscalls:sys_enter_sendto":
            out.append((t, "A" if pid == caller else "C", i, tid))
        elif event == "syscalls:sys_exit_recvfrom":
            m = re.search(r"0x([0-9a-f]+)", rest)
            n = int(m.group(1), 16) if m else 0
            if 1 < n < 1 << 40:  # a frame's bytes (not an error, nor a one-byte peek)
                out.append((t, "D" if pid == caller else "B", i, tid))
    return out


def rounds(seq):
    """Complete request/reply rounds A B C D followed by the next A."""
    found = []
    for j in range(len(seq) - 4):
        if "".join(p[1] for p in seq[j : j + 5]) == "ABCDA":
            found.append(seq[j : j + 5])
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("callee", type=int, help="pid of the callee node")
    ap.add_argument("trace", help="perf script output")
    ap.add_argument("--slow", type=float, default=100.0, help="a slow round, in microseconds")
    ap.add_argument("--show", type=int, default=3, help="timelines of this many slowest rounds")
    args = ap.parse_args()

    events = read(args.trace)
    senders = collections.Counter(
        pid for (_t, pid, _tid, _c, comm, ev, _r) in events
        if ev.endswith("sendto") and pid != args.callee and comm == "tokio-rt-worker"
    )
    if not senders:
        raise SystemExit("no caller found in the trace (was the callee pid right?)")
    caller = senders.most_common(1)[0][0]
    side = {caller: "caller", args.callee: "callee"}
    tids = {tid: side[pid] for (_t, pid, tid, *_rest) in events if pid in side}

    found = rounds(points(events, caller, args.callee))
    if not found:
        raise SystemExit("no complete rounds in the trace")
    # The last 90 % are the measured calls (the bench warms up with the first tenth); a
    # "round" of more than 50 ms spans the end of the calls, not a call.
    found = [r for r in found[len(found) // 10 :] if r[4][0] - r[0][0] < 50_000]
    total = sorted(r[4][0] - r[0][0] for r in found)
    pct = lambda q: total[min(int(len(total) * q), len(total) - 1)]
    print(f"rounds {len(found)}: p50 {pct(0.5):.1f} us, p99 {pct(0.99):.1f} us, p99.9 {pct(0.999):.1f} us (traced)")

    wakes = collections.defaultdict(list)  # tid -> [(time, waker tid)]
    ins = collections.defaultdict(list)  # tid -> [time switched in]
    outs = collections.defaultdict(list)  # tid -> [(time, state)]
    for (t, _pid, tid, _cpu, _comm, ev, rest) in events:
        if ev == "sched:sched_wakeup":
            m = re.search(r" pid=(\d+) ", rest)
            if m:
                wakes[int(m.group(1))].append((t, tid))
        elif ev == "sched:sched_switch":
            m = re.search(r"prev_pid=(\d+) .*prev_state=(\S+) ==> .*next_pid=(\d+)", rest)
            if m:
                outs[int(m.group(1))].append((t, m.group(2)))
                ins[int(m.group(3))].append(t)

    legs = collections.Counter()
    kinds = collections.Counter()
    wake_delay, run_delay = [], []
    slow = [r for r in found if r[4][0] - r[0][0] > args.slow]
    for r in slow:
        spans = [("A->B request in flight", r[0], r[1]), ("B->C callee at work", r[1], r[2]),
                 ("C->D reply in flight", r[2], r[3]), ("D->A caller between calls", r[3], r[4])]
        name, start, end = max(spans, key=lambda s: s[2][0] - s[1][0])
        legs[name] += 1
        t0, t1, reader = start[0], end[0], end[3]
        woken = [w for w in wakes[reader] if t0 <= w[0] <= t1]
        if woken:
            w = woken[-1][0]
            ran = [x for x in ins[reader] if x >= w]
            kinds["slept"] += 1
            wake_delay.append(w - t0)
            if ran:
                run_delay.append(ran[0] - w)
        elif any(st.startswith("R") for (x, st) in outs[reader] if t0 <= x <= t1):
            kinds["preempted"] += 1
        elif any(t0 <= x <= t1 for x in ins[reader]):
            kinds["waiting for a core (runnable before the data came)"] += 1
        else:
            kinds["running"] += 1
    print(f"slow rounds (> {args.slow:.0f} us): {len(slow)} ({100.0 * len(slow) / len(found):.2f} %)")
    for k, v in legs.most_common():
        print(f"  slowest leg {k}: {v}")
    for k, v in kinds.most_common():
        print(f"  the reader of that leg {k}: {v}")

    def dist(name, xs):
        if xs:
            xs = sorted(xs)
            print(f"  {name}: p50 {xs[len(xs) // 2]:.0f} us, p90 {xs[int(len(xs) * 0.9)]:.0f} us ({len(xs)})")

    dist("slept: from the data to the wake-up", wake_delay)
    dist("slept: from the wake-up to a core", run_delay)

    # Who had the core while a woken locus thread waited more than 30 us for it.
    holders = collections.Counter()
    waiting = {}
    for (t, _pid, tid, _cpu, _comm, ev, rest) in events:
        if ev == "sched:sched_wakeup":
            m = re.search(r" pid=(\d+) ", rest)
            if m and int(m.group(1)) in tids:
                waiting[int(m.group(1))] = t
        elif ev == "sched:sched_switch":
            m = re.search(r"prev_comm=(.+?) prev_pid=(\d+) .*next_pid=(\d+)", rest)
            if m and int(m.group(3)) in waiting:
                if t - waiting.pop(int(m.group(3))) > 30:
                    prev = int(m.group(2))
                    holders[f"{m.group(1)} ({tids.get(prev, 'other process')})"] += 1
    if holders:
        print("  held the core while a woken locus thread waited > 30 us:")
        for k, v in holders.most_common(5):
            print(f"    {k}: {v}")

    for r in sorted(slow, key=lambda r: r[0][0] - r[4][0])[: args.show]:
        t0 = r[0][0]
        print(f"--- a round of {r[4][0] - t0:.0f} us: A->B {r[1][0] - t0:.0f}, B->C {r[2][0] - r[1][0]:.0f}, "
              f"C->D {r[3][0] - r[2][0]:.0f}, D->A {r[4][0] - r[3][0]:.0f}")
        for (t, pid, tid, cpu, comm, ev, rest) in events[r[0][2] : r[4][2] + 1]:
            who = side.get(pid, comm)
            print(f"  {t - t0:7.1f} cpu{cpu} {who:>8} {tid:<7} {ev.split(':')[1]:<18} {rest[:90]}")


if __name__ == "__main__":
    main()
