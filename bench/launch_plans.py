#!/usr/bin/env python3
"""Scale of maps over workflows (issue 9): a map of CHILDREN child executions, each a
workflow with an INNER-element map of builtin.noop, on `fanout local` with its defaults.

Reports the children's start rate (children started per second while the outer map ran, from
the outer node's counts) and the coordinator's memory per finished child:
  - rss_growth_per_finished_child_bytes: its RSS after the run minus before the first
    submission, over every child finished so far. After one round this includes what the
    first run touches once (code and library pages, the allocator's arenas);
  - rss_growth_since_round_1_per_child_bytes (rounds 2..): RSS after this round minus after
    round 1, over the children finished since. What stays per finished child grows this;
    one-time costs do not. --rounds 3 by default.

  bench/launch_plans.py [--bindir build-release/bin] [--children 10000] [--inner 100]

Every process it starts is recorded in a pid file and stopped at the end, also on an error.
"""

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster as C  # noqa: E402

SPEC = """version: 1
tasks:
  noop: {function: builtin.noop, inputs: {x: int}, outputs: {o0: int}}
workflows:
  child:
    inputs: {xs: "list<int>"}
    nodes:
      - {id: inner, map: noop, inputs: {x: $inputs.xs}}
    outputs: {o0: $inner.o0}
  outer:
    inputs: {xss: "list<list<int>>"}
    nodes:
      - {id: each, map: child, inputs: {xs: $inputs.xss}}
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bindir", default="build-release/bin")
    ap.add_argument("--children", type=int, default=10000)
    ap.add_argument("--inner", type=int, default=100)
    ap.add_argument("--timeout", type=float, default=3600, help="seconds before giving up")
    ap.add_argument("--rounds", type=int, default=3,
                    help="run the map this many times on the same cluster (memory that stays per "
                         "finished child grows with each round; memory the allocator keeps does not)")
    a = ap.parse_args()
    if a.children < 1 or a.inner < 1:
        ap.error("--children and --inner must be at least 1")
    bindir = os.path.abspath(a.bindir)
    if not os.path.exists(os.path.join(bindir, "fanout")):
        ap.error(f"no fanout binary in {bindir} (build first: make bench builds build-release)")

    # Stop cleanly (the finally below stops the cluster) on SIGTERM, and on SIGINT even when
    # started in the background (where a shell leaves SIGINT ignored).
    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)

    tmp = tempfile.mkdtemp(prefix="fanout-bench-lp-")
    pidfile = os.path.join(tmp, "pids")
    cl = C.LocalCluster(bindir, tmp, C.Tracker(pidfile), "local")
    try:
        cl.start()
        coord = cl.pids["coordinator"]
        spec = os.path.join(tmp, "lp.yaml")
        with open(spec, "w") as f:
            f.write(SPEC)
        xss = [[c * a.inner + i for i in range(a.inner)] for c in range(a.children)]
        inputs = os.path.join(tmp, "xss.json")
        with open(inputs, "w") as f:
            json.dump(xss, f)
        rss0 = C.proc_status_kb(coord, "VmRSS")
        ok = True
        rss_round1 = None
        for rnd in range(a.rounds):
            done, rss = run_once(cl, coord, a, spec, inputs, rss0, rss_round1, rnd)
            ok = ok and done
            rss_round1 = rss if rss_round1 is None else rss_round1
        return 0 if ok else 1
    finally:
        cl.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def settled_rss_kb(pid, still_s, max_s):
    """The RSS of pid (KiB) once it has not changed for still_s seconds, or after max_s."""
    deadline = time.time() + max_s
    last, since = C.proc_status_kb(pid, "VmRSS"), time.time()
    while time.time() < deadline and time.time() - since < still_s:
        time.sleep(0.5)
        now = C.proc_status_kb(pid, "VmRSS")
        if now != last:
            last, since = now, time.time()
    return last


def run_once(cl, coord, a, spec, inputs, rss0, rss_round1, rnd):
    """One submission; prints its figures and returns (succeeded, RSS after it in KiB).
    rss0: the coordinator's RSS before the first; rss_round1: after the first (None in it)."""
    r = cl.cli("run", spec, "outer", "-i", f"xss=@{inputs}", "--no-wait", timeout="600s")
    exe = r.stdout.split()[0]
    t0 = time.time()
    C.log(f"round {rnd + 1}: submitted {exe}: {a.children} children x {a.inner} no-op subtasks")
    all_started = None
    peak = rss0
    doc = {}
    last_log = 0.0
    while time.time() - t0 < a.timeout:
        doc = json.loads(cl.cli("status", exe, "-o", "json", timeout="60s").stdout)
        c = doc["nodes"][0]["counts"]
        started = c["running"] + c["succeeded"] + c["failed"] + c["aborted"]
        now = time.time()
        if started >= a.children and all_started is None:
            all_started = now - t0
        peak = max(peak, C.proc_status_kb(coord, "VmRSS") or 0)
        if now - last_log > 5:
            C.log(f"  {now - t0:6.1f}s  children started {started}, succeeded {c['succeeded']}, "
                  f"coordinator RSS {peak / 1024:.0f} MiB")
            last_log = now
        if doc["phase"] in ("SUCCEEDED", "FAILED", "ABORTED"):
            break
        time.sleep(0.2)
    wall = time.time() - t0
    # The coordinator gives freed pages back on a tick (1 s apart) once what the children held
    # is freed, which takes a few ticks: read when the RSS has not moved for 3 s (at most 20 s).
    rss1 = settled_rss_kb(coord, still_s=3, max_s=20)
    node = doc["nodes"][0]
    finished = node["counts"]["succeeded"] * (rnd + 1)
    result = {
        "round": rnd + 1,
        "children": a.children,
        "inner": a.inner,
        "phase": doc.get("phase"),
        "wall_s": round(wall, 1),
        "children_per_s": round(a.children / wall, 1),
        # The outer map has no concurrency: every child starts as soon as the coordinator can
        # create it; measured to the first status poll that saw them all (an upper bound).
        "all_children_started_s": round(all_started, 2) if all_started is not None else None,
        "children_started_per_s": round(a.children / all_started) if all_started else None,
        "subtasks_per_s": round(a.children * a.inner / wall),
        "coordinator_rss_before_mib": round(rss0 / 1024, 1),
        "coordinator_rss_after_mib": round(rss1 / 1024, 1),
        "coordinator_rss_peak_mib": round(peak / 1024, 1),
        "rss_growth_per_finished_child_bytes": round((rss1 - rss0) * 1024 / max(finished, 1)),
        "outer_node_state_bytes": node.get("state_bytes"),
    }
    if rss_round1 is not None:
        result["rss_growth_since_round_1_per_child_bytes"] = round(
            (rss1 - rss_round1) * 1024 / max(node["counts"]["succeeded"] * rnd, 1))
    if doc.get("phase") != "SUCCEEDED":
        result["error"] = (doc.get("error") or "")[:2000]
    print(json.dumps(result), flush=True)
    return doc.get("phase") == "SUCCEEDED", rss1


if __name__ == "__main__":
    sys.exit(main())
