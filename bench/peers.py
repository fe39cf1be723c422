"""The peers beside fanout: the scripts of ../shared/peers (Dask, Celery, RQ, and the 40-line
pyzmq map), run in the same bench invocation on the same machine.

The peer directory is read-only and its scripts write results next to themselves, so they are
copied into the bench's temp dir and run from there with Debian's /usr/bin/python3, one
repetition per case, their Redis on a free port (PEER_REDIS_PORT). Each script runs in a
session of its own whose process group is recorded for run.sh's EXIT trap, and is killed as a
group when it overruns its time budget. A peer whose Debian package is missing is skipped with
a note (run.sh installs them when it can).
"""

import glob
import json
import os
import shutil
import signal
import subprocess
import time

from cluster import Tracker, free_port, log

PY = "/usr/bin/python3"

# (system, Debian package, python module that must import)
SYSTEMS = [
    ("dask", "python3-distributed", "distributed"),
    ("celery", "python3-celery", "celery"),
    ("rq", "python3-rq", "rq"),
    ("pyzmq", "python3-zmq", "zmq"),
]

# What each variant is, for the table (their scripts' own words, shortened).
NOTES = {
    ("dask", "map"): "client.map + gather, stock config, LocalCluster 2 procs x 1 thread",
    ("dask", "batched-1000"): "client.map over 1000-item lists (hand-batched)",
    ("celery", "group"): "group(...).apply_async().get(), Redis broker+backend, prefork c=2",
    ("celery", "chunks-1000"): "task.chunks(.., 1000).group() (hand-batched)",
    ("rq", "simpleworker"): "2 x rq worker -w SimpleWorker, enqueue_many",
    ("rq", "worker-fork"): "2 x default rq worker (fork per job), enqueue_many",
    ("pyzmq", "minimal map"): "40-line PUSH/PULL + msgpack map, 1 msg/task, no durability",
}

PYZMQ_DRIVER = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import bench_baseline, common
n, port = int(sys.argv[2]), int(sys.argv[3])
bench_baseline.zmq_map("noop", 1000, port)  # warm-up
wall, out = bench_baseline.zmq_map("noop", n, port + 2)
common.check(out, n, "noop")
print(json.dumps({"system": "pyzmq", "variant": "minimal map", "func": "noop", "n": n,
                  "wall_s": wall, "tasks_per_s": n / wall}), flush=True)
"""


def free_port_run(count):
    """A port p with p .. p+count-1 all free on 127.0.0.1 (the pyzmq map binds p and p+1)."""
    import socket
    for _ in range(100):
        p = free_port()
        socks = []
        try:
            for q in range(p, p + count):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", q))
            return p
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no run of {count} free ports")


def importable(module):
    return subprocess.run([PY, "-c", f"import {module}"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def run_script(argv, cwd, env, tracker, timeout_s, out_path):
    """Runs one peer script in its own session; returns (rc or None on timeout, JSON rows)."""
    with open(out_path, "wb") as out:
        p = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=subprocess.STDOUT, start_new_session=True)
    tracker.group(p.pid)
    try:
        rc = p.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        rc = None
    # The script stops what it started; anything left in its group (it was killed, or it
    # overran) goes now.
    for sig, grace in ((signal.SIGTERM, 5), (signal.SIGKILL, 0)):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.time() + grace
        while time.time() < deadline:
            try:
                os.killpg(p.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
    if p.poll() is None:
        p.wait()
    rows = []
    with open(out_path, errors="replace") as f:
        for line in f:
            if line.startswith("{"):
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    pass
    return rc, rows


def run_peers(peers_dir, tmp, tracker, n, stock_n, timeout_s, cases_env=None):
    """Runs the peers; returns (results, notes): results are dicts with system, variant, n,
    tasks_per_s, wall_s, note; notes are lines saying what was skipped and why."""
    results, notes = [], []
    if not os.path.isdir(peers_dir):
        notes.append(f"peers: {peers_dir} not found; no peer rows")
        return results, notes
    work = os.path.join(tmp, "peers")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "results"))
    for f in glob.glob(os.path.join(peers_dir, "*.py")):
        shutil.copy(f, work)
    env = dict(os.environ, PEER_REDIS_PORT=str(free_port()), PYTHONDONTWRITEBYTECODE="1")
    # The stock variant and the hand-batched one of each system. The one-task-per-item variants
    # run at stock_n: at 300-800 tasks/s, 100k of them takes 2-6 min each on an idle machine and
    # more than 10 min on a loaded one, and their per-task cost does not depend on N
    # (RESULTS.md, 10k vs 100k: Dask 627 vs 616/s, Celery 485 vs 396/s, RQ 844 vs 711/s).
    # RQ's default worker forks a process per job (~150 jobs/s idle, single digits loaded): its
    # no-fork SimpleWorker stands for RQ; BENCH_PEER_CASES="rq=worker-fork:noop:1000" adds it.
    cases = {
        "dask": [f"batched-1000:noop:{n}", f"map:noop:{stock_n}"],
        "celery": [f"chunks-1000:noop:{n}", f"group:noop:{stock_n}"],
        "rq": [f"simpleworker:noop:{stock_n}"],
    }
    if cases_env:  # BENCH_PEER_CASES="dask=map:noop:1000,...;celery=..."
        for part in cases_env.split(";"):
            system, _, cs = part.partition("=")
            if system.strip() in cases:
                cases[system.strip()] = [c for c in cs.split(",") if c]
    for system, package, module in SYSTEMS:
        if not importable(module):
            notes.append(f"{system}: skipped, {package} is not installed (`apt-get install {package}`)")
            log(f"bench: peer {system} skipped: {package} not installed")
            continue
        # One script run per system (one broker/cluster start), its fast hand-batched variant
        # first: when the stock variant overruns the budget, the rows already printed stay.
        runs = [("minimal map", [PY, "-c", PYZMQ_DRIVER, work, str(n), str(free_port_run(4))])] if system == "pyzmq" \
            else [(",".join(cases[system]), [PY, os.path.join(work, f"bench_{system}.py"), "--reps", "1", "--cases",
                                             ",".join(cases[system])])] if cases[system] else []
        for i, (case, argv) in enumerate(runs):
            t0 = time.time()
            out_path = os.path.join(tmp, f"peer-{system}-{i}.out")
            log(f"bench: peer {system} {case}" + (f" N={n:,}" if system == "pyzmq" else ""))
            rc, rows = run_script(argv, work, env, tracker, timeout_s, out_path)
            took = time.time() - t0
            got = 0
            for r in rows:
                if r.get("skipped") or r.get("wall_s") is None:
                    notes.append(f"{system} {r.get('variant')} N={r.get('n')}: {r.get('note', 'skipped')}")
                    continue
                got += 1
                results.append({"system": system, "variant": r["variant"], "n": r["n"],
                                "wall_s": r["wall_s"], "tasks_per_s": r["n"] / r["wall_s"],
                                "note": NOTES.get((system, r["variant"]), ""),
                                "versions": r.get("versions", "")})
                log(f"  {system} {r['variant']} N={r['n']:,}: {r['n'] / r['wall_s']:,.0f} tasks/s ({took:.0f} s)")
            if rc is None:
                wanted = 1 if system == "pyzmq" else len(cases[system])
                if got < wanted:
                    notes.append(f"{system}: {got} of {wanted} case(s) done within its {timeout_s:.0f} s budget "
                                 "(BENCH_PEER_TIMEOUT); the rest was stopped")
                log(f"  {system}: stopped after {timeout_s:.0f} s")
            elif rc != 0 or not got:
                with open(out_path, errors="replace") as f:
                    tail = f.read()[-400:].strip().replace("\n", " | ")
                notes.append(f"{system} {case}: exited {rc} after {took:.0f} s without a result; tail: {tail}")
    return results, notes
