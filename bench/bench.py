#!/usr/bin/env python3
"""fanout's benchmark harness (issue 11): the cases of the targets table, at default settings
and with the best flags, and the peers of ../shared/peers, in one invocation; one Markdown
table on stdout and in bench/results/latest.md.

Called by bench/run.sh, which owns the temp dir, the pid file and the EXIT trap:
    bench.py BINDIR TMPDIR PIDFILE
Standard library only; every fanout process is driven through its command-line interface.

Cases (BENCH_CASES selects, comma-separated; default all):
  noop     builtin.noop over BENCH_N elements on `fanout local` (defaults: one worker per core,
           default slots and batch): end-to-end subtasks/s, submit -> SUCCEEDED.
  best     the same N on redis + coordinator + workers started with each flag set of BENCH_BEST;
           the best rate, and the default's ratio to it.
  sleep    builtin.sleep_ms (ms=1) over BENCH_SLEEP_N elements, defaults: % of slots/1 ms.
  true     command task `true` over BENCH_TRUE_N elements, defaults: subtasks/s.
  rss      one BENCH_RSS_N-element noop node, defaults: the coordinator's peak RSS (VmHWM of a
           fresh coordinator: submission and input included) and the STATUS document's
           state_bytes / size; stopped (aborted) after BENCH_RSS_MAX_S s if not done by then.
  restart  a BENCH_RESTART_N-element noop node, defaults, kill -9 of the coordinator once half
           is done, then a new coordinator: ms from its start to its first dispatch (see
           case_restart for how that is observed).
  submit   submission of a BENCH_SUBMIT_N-element input, defaults, while another client sends
           HEALTH requests back to back: that client's worst reply latency.
  peers    ../shared/peers (Dask, Celery, RQ, pyzmq) at BENCH_PEER_N, one rep each.

Sizes (full / BENCH_QUICK=1): BENCH_N 1M / 50k, BENCH_SLEEP_N 10k / 1k, BENCH_TRUE_N 10k / 500,
BENCH_RSS_N 10M / 1M, BENCH_RESTART_N 1M / 50k, BENCH_SUBMIT_N 1M / 200k, BENCH_PEER_N
100k / 2k (the peers' hand-batched variants), BENCH_PEER_STOCK_N 10k / 2k (their one task per
item variants: see peers.py). Other knobs: BENCH_BEST ("w:--slots=256 c:--max-batch=1024;..."; c: flags go to
the coordinator, w: flags to every worker), BENCH_WORKERS (workers of the flag clusters;
default: cores, like `fanout local`), BENCH_CASE_TIMEOUT (s per measured map, 420 / 60; a map
still running then is aborted and its partial rate shown), BENCH_RSS_MAX_S (120 / 10),
BENCH_PEER_TIMEOUT (s per peer system, 600 / 90), BENCH_PEER_CASES ("dask=map:noop:1000;rq=..."),
BENCH_POLL_MS (STATUS poll interval, 250), BENCH_PEERS_DIR (default ../shared/peers).
PROFILE=1 (or BENCH_PROFILE=1): only the noop case at BENCH_N, under `perf record` for the
coordinator, one worker and redis-server; prints each one's top symbols.
"""

import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import (DaemonCluster, LocalCluster, Tracker, cpu_s, dir_bytes, log,  # noqa: E402
                     proc_status_kb, redis_info, reset_hwm, tcp_open)
import peers  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ALL_CASES = ["noop", "best", "sleep", "true", "rss", "restart", "submit", "peers"]


def env_int(name, full, quick, is_quick):
    v = os.environ.get(name)
    return int(float(v)) if v else (quick if is_quick else full)


class Config:
    def __init__(self):
        self.quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
        q = self.quick
        self.profile = any(os.environ.get(k, "") not in ("", "0") for k in ("PROFILE", "BENCH_PROFILE"))
        self.noop_n = env_int("BENCH_N", 1_000_000, 50_000, q)
        self.sleep_n = env_int("BENCH_SLEEP_N", 10_000, 1_000, q)
        self.true_n = env_int("BENCH_TRUE_N", 10_000, 500, q)
        self.rss_n = env_int("BENCH_RSS_N", 10_000_000, 1_000_000, q)
        self.rss_max_s = env_int("BENCH_RSS_MAX_S", 120, 10, q)
        self.restart_n = env_int("BENCH_RESTART_N", 1_000_000, 50_000, q)
        self.submit_n = env_int("BENCH_SUBMIT_N", 1_000_000, 200_000, q)
        self.peer_n = env_int("BENCH_PEER_N", 100_000, 2_000, q)
        self.peer_stock_n = env_int("BENCH_PEER_STOCK_N", min(self.peer_n, 10_000), min(self.peer_n, 2_000), q)
        self.case_timeout = env_int("BENCH_CASE_TIMEOUT", 420, 60, q)
        self.peer_timeout = env_int("BENCH_PEER_TIMEOUT", 600, 90, q)
        self.poll_s = env_int("BENCH_POLL_MS", 250, 250, q) / 1000
        self.workers = env_int("BENCH_WORKERS", os.cpu_count() or 2, os.cpu_count() or 2, q)
        default_best = ("w:--slots=256;w:--slots=256 c:--max-batch=1024" if q else
                        "w:--slots=64;w:--slots=256;w:--slots=256 c:--max-batch=1024")
        self.best = [c.split() for c in os.environ.get("BENCH_BEST", default_best).split(";") if c.strip()]
        cases = os.environ.get("BENCH_CASES", ",".join(ALL_CASES))
        self.cases = [c.strip() for c in cases.split(",") if c.strip()]
        for c in self.cases:
            if c not in ALL_CASES:
                sys.exit(f"bench: unknown case '{c}' in BENCH_CASES (known: {','.join(ALL_CASES)})")
        self.peers_dir = os.environ.get("BENCH_PEERS_DIR",
                                        os.path.normpath(os.path.join(HERE, "..", "..", "shared", "peers")))
        self.peer_cases = os.environ.get("BENCH_PEER_CASES")


# ---------------------------------------------------------------------------------------------
# inputs and one measured map


def write_list(tmp, name, values):
    path = os.path.join(tmp, f"{name}.json")
    if not os.path.exists(path):
        with open(path, "w") as f:
            json.dump(values, f, separators=(",", ":"))
    return path


def noop_input(tmp, n):
    # negatives and values beyond 32 bits, in order: the outputs must come back identical
    return write_list(tmp, f"xs-{n}", [i * 4099 - n * 2048 for i in range(n)])


def node_counts(doc):
    c = doc["nodes"][0]["counts"]
    done = c.get("succeeded", 0) + c.get("failed", 0) + c.get("aborted", 0)
    pending = c.get("queued", 0) + c.get("retrying", 0) + c.get("waiting_for_cache", 0)
    return done, pending, c


def submit(cl, spec, input_name, path, timeout="600s"):
    """`fanout run --no-wait`; returns (execution id, t_submit, t_returned)."""
    t0 = time.time()
    r = cl.cli("run", spec, "-i", f"{input_name}=@{path}", "--no-wait", timeout=timeout)
    t1 = time.time()
    return r.stdout.strip().split()[-1], t0, t1


def status(cl, exe, timeout="30s"):
    r = cl.cli("status", exe, "-o", "json", check=False, timeout=timeout)
    if r.returncode not in (0, 1):
        raise RuntimeError(f"fanout status exited {r.returncode}: {r.stderr.strip()[:300]}")
    return json.loads(r.stdout)


def run_map(cl, spec, input_name, path, n, cfg, check="equal", timeout_s=None, stop_when=None):
    """Submits one map, polls STATUS until it ends (or timeout_s after the submit started, or
    stop_when(doc, seconds since the submit returned) is true: then it is aborted), checks the
    outputs. End-to-end time = `fanout run` start (client
    clock) -> the execution's ended_ms (coordinator clock; same host), so the poll interval
    does not blur it."""
    timeout_s = timeout_s or cfg.case_timeout
    coord, redis = cl.pids["coordinator"], cl.pids["redis"]
    workers = cl.worker_pids()
    res = {"n": n}
    reset_hwm(coord)
    reset_hwm(redis)
    cpu0 = {"coordinator": cpu_s(coord), "redis": cpu_s(redis),
            "workers": sum(cpu_s(w) or 0 for w in workers)}
    exe, t_submit, t_submitted = submit(cl, spec, input_name, path)
    res.update(execution=exe, submit_s=t_submitted - t_submit,
               coord_hwm_after_submit_kb=proc_status_kb(coord, "VmHWM"))
    max_state, max_running, doc, stopped = 0, 0, None, None
    while True:
        doc = status(cl, exe)
        t_obs = time.time()
        done, _, counts = node_counts(doc)
        max_running = max(max_running, counts.get("running", 0))
        max_state = max(max_state, doc["nodes"][0].get("state_bytes", 0) or 0)
        if doc["phase"] in ("SUCCEEDED", "FAILED", "ABORTED"):
            break
        if t_obs - t_submit > timeout_s:
            stopped = "timeout"
        elif stop_when and stop_when(doc, t_obs - t_submitted):
            stopped = "stopped"
        if stopped:
            res.update(done_at_stop=done, stop_s=t_obs - t_submit, partial_per_s=done / (t_obs - t_submit))
            cl.cli("abort", exe, check=False)
            break
        time.sleep(cfg.poll_s)
    res["stopped"] = stopped
    cpu1 = {"coordinator": cpu_s(coord), "redis": cpu_s(redis),
            "workers": sum(cpu_s(w) or 0 for w in workers)}
    res["cpu_s"] = {k: round(cpu1[k] - cpu0[k], 2) for k in cpu0 if cpu0[k] is not None and cpu1[k] is not None}
    res["phase"] = doc["phase"]
    res["done"] = node_counts(doc)[0]
    c_ms, e_ms = doc.get("created_ms"), doc.get("ended_ms")
    if doc["phase"] == "SUCCEEDED" and e_ms:
        res["e2e_s"] = e_ms / 1000 - t_submit
        res["e2e_per_s"] = n / res["e2e_s"]
        if c_ms:
            res["coord_s"] = (e_ms - c_ms) / 1000
    res["max_running"] = max_running
    res["state_bytes_max"] = max_state
    res["state_bytes_per_subtask"] = max_state / n if n else None
    res["coord_hwm_kb"] = proc_status_kb(coord, "VmHWM")
    res["redis_hwm_kb"] = proc_status_kb(redis, "VmHWM")
    res["check"] = "NOT_SUCCEEDED"
    if doc["phase"] == "SUCCEEDED":
        node = doc["nodes"][0]
        ok = node["counts"].get("succeeded") == n
        detail = None if ok else f"succeeded {node['counts'].get('succeeded')} of {n}"
        if ok and check == "equal":
            out = cl.cli("outputs", exe, "-o", "json", check=False, timeout="300s")
            try:
                got = json.loads(out.stdout)["outputs"]["o0"]
                with open(path) as f:
                    want = json.load(f)
                ok = got == want
                if not ok:
                    first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), None)
                    detail = f"got {len(got)} outputs, want {len(want)}; first difference at {first}"
            except (ValueError, KeyError, TypeError) as e:
                ok, detail = False, f"bad outputs document ({e}): {out.stderr.strip()[:300]}"
        res["check"] = "OK" if ok else "MISMATCH"
        if detail:
            res["check_detail"] = detail
            log(f"  check failed: {detail}")
    info = redis_info(cl.rport) if cl.rport else {}
    res["aof_bytes"] = dir_bytes(cl.rdir) if cl.rdir else None
    res["redis_aof_rewrites"] = info.get("aof_rewrites")
    return res


def warm_up(cl, cfg):
    path = write_list(cfg.tmp, "warm", list(range(1000)))
    w = run_map(cl, os.path.join(HERE, "noop.yaml"), "xs", path, 1000, cfg, timeout_s=60)
    if w["check"] != "OK":
        raise RuntimeError(f"warm-up map: {w['check']} {w.get('check_detail', '')}")


def describe(res):
    cpu = res.get("cpu_s") or {}
    parts = [f"{res.get('phase')}"]
    if res.get("e2e_s"):
        parts.append(f"e2e {res['e2e_s']:.2f} s ({res['e2e_per_s']:,.0f}/s)")
    if res.get("stopped"):
        parts.append(f"{res['stopped']} after {res['stop_s']:.0f} s at {res['done_at_stop']:,} done")
    parts.append(f"submit {res.get('submit_s', 0):.2f} s")
    if cpu:
        parts.append("CPU s coord/redis/workers " + "/".join(f"{cpu.get(k, 0):.1f}" for k in ("coordinator", "redis", "workers")))
    parts.append(f"coord HWM {mib(res.get('coord_hwm_kb'))} MiB")
    parts.append(str(res.get("check")))
    return ", ".join(parts)


def mib(kb):
    return "-" if kb is None else f"{kb / 1024:,.0f}"


def rate(v):
    return "-" if v is None else f"{v:,.0f}"


def defaults_label(cl):
    slots = "/".join(str(s) for s in (cl.worker_slots or []))
    return f"`fanout local`, no flags ({cl.nworkers} workers x {slots} slots)"


def rate_result(res, unit="subtasks/s"):
    """The cell for a throughput: the rate, or what happened instead."""
    if res.get("e2e_per_s") and res.get("check") == "OK":
        return f"**{res['e2e_per_s']:,.0f}** {unit}", res["e2e_per_s"]
    if res.get("stopped") == "timeout":
        r = res["partial_per_s"]
        return (f"**{r:,.0f}** {unit} (partial: {res['done_at_stop']:,} of {res['n']:,} done in the "
                f"{res['stop_s']:.0f} s cap)"), r
    return f"not measured: {res.get('phase')} {res.get('check')} {res.get('check_detail', '')}", None


# ---------------------------------------------------------------------------------------------
# the cases: each returns a row dict (case, settings, n, result, target, met, ratio) plus raw data


def case_noop(cfg, state):
    cl = LocalCluster(cfg.bindir, cfg.tmp, cfg.tracker, "noop-default")
    try:
        cl.start()
        warm_up(cl, cfg)
        res = run_map(cl, os.path.join(HERE, "noop.yaml"), "xs", noop_input(cfg.tmp, cfg.noop_n), cfg.noop_n, cfg)
        settings = defaults_label(cl)
    finally:
        cl.stop()
    log(f"  noop default: {describe(res)}")
    cell, v = rate_result(res)
    state["noop_default"] = v
    met = None if v is None else v >= 500_000
    return {"case": "`builtin.noop` end to end, defaults", "settings": settings, "n": cfg.noop_n,
            "result": cell, "target": "≥ 500,000/s", "met": met, "raw": res}


def parse_flags(tokens):
    coord, worker = [], []
    for t in tokens:
        who, _, flag = t.partition(":")
        if who not in ("c", "w") or not flag:
            raise ValueError(f"BENCH_BEST token '{t}': want c:--flag=value or w:--flag=value")
        (coord if who == "c" else worker).append(flag)
    return coord, worker


def case_best(cfg, state):
    runs = []
    for i, tokens in enumerate(cfg.best):
        coord, worker = parse_flags(tokens)
        label = ", ".join(p for p in ("worker " + " ".join(worker) if worker else "",
                                       "coordinator " + " ".join(coord) if coord else "") if p) or "no flags"
        cl = DaemonCluster(cfg.bindir, cfg.tmp, cfg.tracker, f"best-{i}", cfg.workers, coord, worker)
        try:
            cl.start()
            warm_up(cl, cfg)
            res = run_map(cl, os.path.join(HERE, "noop.yaml"), "xs", noop_input(cfg.tmp, cfg.noop_n),
                          cfg.noop_n, cfg)
            res["total_slots"] = cl.total_slots
        except Exception as e:  # a flag the daemons no longer take, a crash: say so, go on
            res = {"phase": "ERROR", "check": "ERROR", "error": str(e)[:300]}
        finally:
            cl.stop()
        res["flags"] = label
        log(f"  best [{label}]: {describe(res) if res.get('phase') != 'ERROR' else res['error']}")
        runs.append(res)
    ok = [r for r in runs if r.get("check") == "OK"]
    state["best_runs"] = runs
    if not ok:
        return {"case": "`builtin.noop` end to end, best flags", "settings": "; ".join(r["flags"] for r in runs),
                "n": cfg.noop_n, "result": "no flag set succeeded", "target": "default within 10% of it",
                "met": None, "raw": runs}
    best = max(ok, key=lambda r: r["e2e_per_s"])
    state["noop_best"] = best["e2e_per_s"]
    d = state.get("noop_default")
    ratio = f"default ÷ best = {d / best['e2e_per_s']:.2f}" if d else "default not measured"
    return {"case": "`builtin.noop` end to end, best flags",
            "settings": f"{cfg.workers} workers, {best['flags']} (best of {len(runs)} flag sets)",
            "n": cfg.noop_n, "result": f"**{best['e2e_per_s']:,.0f}** subtasks/s", "target": "default within 10% of it",
            "met": (d / best["e2e_per_s"] >= 0.9) if d else None, "ratio": ratio, "raw": runs}


def case_sleep(cfg, state):
    n = cfg.sleep_n
    cl = LocalCluster(cfg.bindir, cfg.tmp, cfg.tracker, "sleep")
    try:
        cl.start()
        warm_up(cl, cfg)
        slots = cl.total_slots
        # 10 x the ideal time (at least 20 s) tells 97% from not: a slower run is cut short
        res = run_map(cl, os.path.join(HERE, "sleep_ms.yaml"), "ms", write_list(cfg.tmp, f"ones-{n}", [1] * n), n,
                      cfg, timeout_s=min(cfg.case_timeout, max(10 if cfg.quick else 20, 10 * n / (slots * 1000))))
        settings = defaults_label(cl)
    finally:
        cl.stop()
    log(f"  sleep 1 ms: {describe(res)}")
    ideal = slots * 1000.0
    _, v = rate_result(res)
    if v is None:
        cell, met = rate_result(res)[0], None
    else:
        pct = 100 * v / ideal
        partial = " (partial, hit the time cap)" if res.get("stopped") else ""
        cell = f"**{pct:.1f}%** of ideal ({v:,.0f}/s of {slots} slots / 1 ms = {ideal:,.0f}/s){partial}"
        met = pct >= 97 and not res.get("stopped")
    res["ideal_per_s"] = ideal
    return {"case": "C++ function sleeping 1 ms (`builtin.sleep_ms`), defaults", "settings": settings, "n": n,
            "result": cell, "target": "≥ 97% of slots / 1 ms", "met": met, "raw": res}


def case_true(cfg, state):
    n = cfg.true_n
    cl = LocalCluster(cfg.bindir, cfg.tmp, cfg.tracker, "true")
    try:
        cl.start()
        warm_up(cl, cfg)
        # 10 x the time at the target rate (at least 20 s): a slower run is cut short
        res = run_map(cl, os.path.join(HERE, "true.yaml"), "xs", write_list(cfg.tmp, f"range-{n}", list(range(n))),
                      n, cfg, check="count", timeout_s=min(cfg.case_timeout, max(10 if cfg.quick else 20, 10 * n / 1000)))
        settings = defaults_label(cl)
    finally:
        cl.stop()
    log(f"  command true: {describe(res)}")
    cell, v = rate_result(res)
    return {"case": "command task `true`, defaults", "settings": settings, "n": n, "result": cell,
            "target": "≥ 1,000/s", "met": None if v is None else (v >= 1000 and not res.get("stopped")), "raw": res}


def case_rss(cfg, state):
    n = cfg.rss_n
    # Small values (0..999) keep a 10M-element JSON input under the CLI's 64 MiB document cap:
    # the case is about elements, not payload.
    path = write_list(cfg.tmp, f"mod1000-{n}", [i % 1000 for i in range(n)])
    cl = LocalCluster(cfg.bindir, cfg.tmp, cfg.tracker, "rss")
    try:
        cl.start()  # a fresh coordinator: its VmHWM covers submission, decoding and the run
        coord = cl.pids["coordinator"]
        base_kb = proc_status_kb(coord, "VmRSS")
        t0 = time.time()
        res = run_map(cl, os.path.join(HERE, "noop.yaml"), "xs", path, n, cfg, check="count",
                      timeout_s=10**9, stop_when=lambda doc, el: el > cfg.rss_max_s)
        res["base_rss_kb"] = base_kb
        res["wall_s"] = time.time() - t0
        settings = defaults_label(cl)
    finally:
        cl.stop()
    log(f"  rss: {describe(res)}, state max {res.get('state_bytes_max', 0):,} B")
    hwm = res.get("coord_hwm_kb")
    sb = res.get("state_bytes_per_subtask")
    if res.get("stopped"):
        how = (f"submit took {res['submit_s']:.1f} s; aborted {res['stop_s']:.0f} s after it began with "
               f"{res['done_at_stop']:,} of {n:,} done")
    else:
        how = f"ran to {res['phase']}"
    cell = (f"**{mib(hwm)} MiB** peak RSS; **{sb:.1f} B**/subtask state (max of state_bytes / size); {how}"
            if hwm and sb is not None else f"not measured: {res.get('phase')}")
    met = None if not hwm or sb is None else (hwm <= 1024 * 1024 and sb <= 16)
    return {"case": "coordinator peak RSS, one node (input included)", "settings": settings, "n": n,
            "result": cell, "target": "≤ 1 GiB at 10M; ≤ 16 B/subtask", "met": met if n >= 10_000_000 else None,
            "raw": res}


def case_restart(cfg, state):
    """kill -9 of the coordinator when half the node is done, then a new one with the same flags.

    What is observed, through the CLI only: t_start = just before the new coordinator is
    exec'd. It binds its port only once it has loaded the active executions (a raw TCP connect
    every 2 ms sees that: t_bound). From then on `fanout status` is polled back to back. The
    node's pending count (queued + retrying + waiting_for_cache) can only fall by dispatch (a
    restored RUNNING subtask that nobody claims goes back to queued: that only raises it), so
    the first dispatch lies between the last poll that still shows the first poll's pending
    count and the first that shows fewer. The first poll is a valid baseline only if no worker
    had registered yet (checked with `fanout workers` right after it: without a worker nothing
    can be dispatched); otherwise dispatch may have begun before the first poll, and the time of
    the first fall is reported as an upper bound ("≤").
    """
    n = cfg.restart_n
    cl = DaemonCluster(cfg.bindir, cfg.tmp, cfg.tracker, "restart", cfg.workers)
    out = {"n": n}
    try:
        cl.start()
        exe, t_submit, _ = submit(cl, os.path.join(HERE, "noop.yaml"), "xs", noop_input(cfg.tmp, n))
        while True:
            doc = status(cl, exe)
            done, _, _ = node_counts(doc)
            if done >= n // 2 or doc["phase"] != "RUNNING":
                break
            if time.time() - t_submit > cfg.case_timeout * 2:
                raise RuntimeError(f"half of {n:,} not done after {cfg.case_timeout * 2} s ({done:,} done)")
            time.sleep(0.1)
        if doc["phase"] != "RUNNING":
            raise RuntimeError(f"the execution ended ({doc['phase']}) before the kill")
        out["done_at_kill"] = done
        cl.kill_coordinator()
        t_start = time.time()
        cl.spawn_coordinator()
        while not tcp_open(cl.cport, timeout=0.05):
            if time.time() - t_start > 120 or cl.procs["coordinator"].poll() is not None:
                raise RuntimeError(f"the new coordinator did not bind (see {cl.dir}/coordinator.log)")
            time.sleep(0.002)
        t_bound = time.time()
        samples = []  # (t after the reply, pending)
        baseline_valid = None
        while True:
            r = cl.cli("status", exe, "-o", "json", check=False, timeout="10s")
            t = time.time()
            if r.returncode not in (0, 1):
                if t - t_start > 120:
                    raise RuntimeError(f"status after restart: {r.stderr.strip()[:200]}")
                continue
            doc = json.loads(r.stdout)
            _, pending, counts = node_counts(doc)
            samples.append((t, pending))
            if len(samples) == 1:
                w = cl.cli("workers", "-o", "json", check=False, timeout="10s")
                baseline_valid = w.returncode == 0 and len(json.loads(w.stdout).get("workers", [])) == 0
                out["first_poll_counts"] = counts
            elif pending < samples[0][1] or doc["phase"] != "RUNNING":
                break
            if t - t_start > 120:
                raise RuntimeError("no dispatch within 120 s of the restart")
        cl.cli("abort", exe, check=False)
    finally:
        cl.stop()
    out["load_ms"] = (t_bound - t_start) * 1000
    out["first_poll_ms"] = (samples[0][0] - t_start) * 1000
    out["dispatch_ms_upper"] = (samples[-1][0] - t_start) * 1000
    out["dispatch_ms_lower"] = (samples[-2][0] - t_start) * 1000
    out["polls"] = len(samples)
    out["poll_ms"] = statistics.median([b[0] - a[0] for a, b in zip(samples, samples[1:])]) * 1000 if len(samples) > 1 else None
    out["baseline_valid"] = baseline_valid
    log(f"  restart: bound {out['load_ms']:.0f} ms, first dispatch in ({out['dispatch_ms_lower']:.0f}, "
        f"{out['dispatch_ms_upper']:.0f}] ms after start, {len(samples)} polls, baseline valid {baseline_valid}")
    if baseline_valid:
        cell = (f"**{out['dispatch_ms_upper']:,.0f} ms** to first dispatch (after {out['dispatch_ms_lower']:,.0f} ms; "
                f"port bound at {out['load_ms']:,.0f} ms)")
    else:
        cell = (f"**≤ {out['dispatch_ms_upper']:,.0f} ms** to first dispatch (a worker had registered by the first "
                f"poll; port bound at {out['load_ms']:,.0f} ms)")
    return {"case": "restart → first dispatch, node half done (kill -9)", "settings":
            f"redis + coordinator + {cfg.workers} workers, no flags", "n": n, "result": cell,
            "target": "≤ 1,000 ms", "met": out["dispatch_ms_upper"] <= 1000, "raw": out}


def case_submit(cfg, state):
    """While `fanout run --no-wait` submits the input, another client sends `fanout health`
    back to back (each a fresh CLI process: its latency includes process start, so the idle
    median is reported beside the worst). Window: from the submit's start until 2 s (or the
    submit's own duration, if longer) after it returned."""
    n = cfg.submit_n
    path = noop_input(cfg.tmp, n)
    cl = LocalCluster(cfg.bindir, cfg.tmp, cfg.tracker, "submit")
    out = {"n": n}
    try:
        cl.start()
        warm_up(cl, cfg)
        probes = []  # (t_sent, latency_s, rc)
        stop = threading.Event()

        def prober():
            while not stop.is_set():
                t0 = time.time()
                r = subprocess.run([cl.exe("fanout"), "health", "--coordinator", cl.addr, "--timeout", "10s"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=cl.env)
                probes.append((t0, time.time() - t0, r.returncode))

        th = threading.Thread(target=prober, daemon=True)
        th.start()
        try:
            time.sleep(1.5)  # idle baseline
            turns_before = cl.loop_turns()
            exe, t_submit, t_returned = submit(cl, os.path.join(HERE, "noop.yaml"), "xs", path)
            time.sleep(max(2.0, t_returned - t_submit))
            t_end = time.time()
            turns_after = cl.loop_turns()
        finally:
            stop.set()
            th.join(60)
        cl.cli("abort", exe, check=False)
    finally:
        cl.stop()
    idle = [lat for t0, lat, _ in probes if t0 + lat < t_submit]
    during = [(t0, lat, rc) for t0, lat, rc in probes if t0 + lat >= t_submit and t0 <= t_end]
    if not idle or not during:
        raise RuntimeError(f"too few probes (idle {len(idle)}, during {len(during)})")
    worst = max(during, key=lambda p: p[1])
    out.update(submit_s=t_returned - t_submit, idle_median_ms=statistics.median(idle) * 1000,
               idle_max_ms=max(idle) * 1000, worst_ms=worst[1] * 1000, worst_at_s=worst[0] - t_submit,
               probes_during=len(during), failed_probes=sum(1 for p in during if p[2] != 0))
    out["stall_ms"] = out["worst_ms"] - out["idle_median_ms"]
    # The coordinator's own measure (fanout_loop_turn_seconds): the turns of the window, by
    # bucket; the longest is at most the smallest bound that holds them all.
    turns = None
    if turns_before and turns_after:
        grew = {le: turns_after[le] - turns_before.get(le, 0) for le in turns_after}
        total = grew.get(float("inf"), 0)
        longest = min((le for le, c in grew.items() if c == total), default=float("inf"))
        turns = {"turns": total, "longest_le_ms": longest * 1000, "over_50ms": total - grew.get(0.05, 0)}
    out["loop_turns"] = turns
    log(f"  submit: {out}")
    cell = (f"**{out['stall_ms']:,.0f} ms** longest stall (worst HEALTH reply {out['worst_ms']:,.0f} ms − "
            f"idle median {out['idle_median_ms']:.0f} ms; {out['probes_during']} probes; submit took "
            f"{out['submit_s']:.2f} s)")
    if turns:
        cell += (f"; the coordinator's longest loop turn **≤ {turns['longest_le_ms']:,.0f} ms**, "
                 f"{turns['over_50ms']} of {turns['turns']:,} turns over 50 ms")
    return {"case": "submit of a large input: worst loop stall seen by another client", "settings":
            defaults_label(cl), "n": n, "result": cell, "target": "≤ 50 ms",
            "met": out["stall_ms"] <= 50 and out["failed_probes"] == 0, "raw": out}


def times(x):
    return f"{x:,.0f}×" if x >= 10 else f"{x:.1f}×" if x >= 1 else f"{x:.2f}×"


def case_peers(cfg, state):
    results, notes = peers.run_peers(cfg.peers_dir, cfg.tmp, cfg.tracker, cfg.peer_n, cfg.peer_stock_n, cfg.peer_timeout,
                                     cfg.peer_cases)
    state["peer_notes"] = notes
    rows = []
    d, b = state.get("noop_default"), state.get("noop_best")
    for r in results:
        ratio = []
        if d:
            ratio.append(f"default ÷ peer = **{times(d / r['tasks_per_s'])}**")
        if b:
            ratio.append(f"best ÷ peer = {times(b / r['tasks_per_s'])}")
        rows.append({"case": f"peer: {r['system']} {r['variant']}", "settings": r["note"], "n": r["n"],
                     "result": f"**{r['tasks_per_s']:,.0f}** tasks/s ({r['wall_s']:.2f} s)", "target": "",
                     "met": None, "ratio": "; ".join(ratio) or "fanout noop not measured", "raw": r})
    return rows


CASES = {"noop": case_noop, "best": case_best, "sleep": case_sleep, "true": case_true, "rss": case_rss,
         "restart": case_restart, "submit": case_submit, "peers": case_peers}
TITLES = {"noop": "`builtin.noop` end to end, defaults", "best": "`builtin.noop` end to end, best flags",
          "sleep": "C++ function sleeping 1 ms, defaults", "true": "command task `true`, defaults",
          "rss": "coordinator peak RSS, one node", "restart": "restart → first dispatch",
          "submit": "submit of a large input: loop stall", "peers": "peers"}


# ---------------------------------------------------------------------------------------------
# profile mode


def perf_top(data, limit):
    """perf report's self-time top DSOs and symbols, as text lines."""
    lines = []
    for sort, n in (("dso", 8), ("dso,symbol", limit)):
        r = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", sort,
                            "--percent-limit", "0.5"], capture_output=True, text=True)
        rows = [ln for ln in r.stdout.splitlines() if ln.strip() and not ln.startswith("#")]
        lines.append(f"  top {'DSOs' if sort == 'dso' else 'symbols (self time)'}:")
        lines += ["    " + re.sub(r"(\s+-)+$", "", re.sub(r"\s+", " ", ln.strip())) for ln in rows[:n]]
        if not rows:
            lines.append("    (no samples) " + r.stderr.strip()[:200])
    return lines


def perf_trace_summary(path):
    """{syscall: (calls, total ms)} summed over the threads of a `perf trace -s` summary."""
    calls = {}
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = re.match(r"^\s+(\w+)\s+(\d+)\s+(\d+)\s+([\d.]+)\s", line)
                if m:
                    c, ms = calls.get(m.group(1), (0, 0.0))
                    calls[m.group(1)] = (c + int(m.group(2)), ms + float(m.group(4)))
    except OSError:
        pass
    return calls


def start_perf(cfg, argv, name):
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(os.path.join(cfg.tmp, f"{name}.err"), "wb"),
                         start_new_session=True)
    cfg.tracker.group(p.pid)
    return p


def stop_perfs(procs):
    for p in procs:
        if p.poll() is None:
            p.send_signal(2)  # SIGINT: perf writes its data or summary and exits
    for p in procs:
        try:
            p.wait(120)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run_profile(cfg, facts):
    """The noop map at defaults twice on one `fanout local` cluster: first N elements under
    `perf record` (cpu-clock sampling: this VM has no hardware cycle counter) of the
    coordinator, one worker and redis-server; then min(N, 100k) under `perf trace -s` for the
    syscalls per subtask (a separate map: tracing every syscall would skew the samples)."""
    if not shutil.which("perf"):
        sys.exit("bench: perf not found (run.sh installs linux-perf when it can)")
    n = cfg.noop_n
    n_trace = min(n, 100_000)
    cl = LocalCluster(cfg.bindir, cfg.tmp, cfg.tracker, "profile")
    procs = []
    try:
        cl.start()
        warm_up(cl, cfg)
        targets = {"coordinator": cl.pids["coordinator"], "worker": cl.worker_pids()[0],
                   "redis-server": cl.pids["redis"]}
        cpu0 = {k: cpu_s(p) for k, p in targets.items()}
        recs = {}
        for name, pid in targets.items():
            data = os.path.join(cfg.tmp, f"perf-{name}.data")
            procs.append(start_perf(cfg, ["perf", "record", "-e", "cpu-clock", "-F", "499", "-p", str(pid), "-o", data],
                                    f"perf-{name}"))
            recs[name] = data
        time.sleep(0.5)
        res = run_map(cl, os.path.join(HERE, "noop.yaml"), "xs", noop_input(cfg.tmp, n), n, cfg)
        stop_perfs(procs)
        cpu1 = {k: cpu_s(p) for k, p in targets.items()}
        traces = {}
        for name, pid in targets.items():
            path = os.path.join(cfg.tmp, f"trace-{name}.txt")
            procs.append(start_perf(cfg, ["perf", "trace", "-s", "-p", str(pid), "-o", path], f"trace-{name}"))
            traces[name] = path
        time.sleep(0.5)
        res_t = run_map(cl, os.path.join(HERE, "noop.yaml"), "xs", noop_input(cfg.tmp, n_trace), n_trace, cfg)
        stop_perfs(procs)
        out = [f"# fanout profile: builtin.noop over {n:,} elements, `fanout local` defaults", "",
               facts_line(facts), "", f"profiled run: {describe(res)}", "",
               f"traced run ({n_trace:,} elements): {describe(res_t)}", "",
               "Samples: `perf record -e cpu-clock -F 499 -p PID` (self time per DSO and symbol; on this VM "
               "kernel time tends to land on pvm_irq_enable, where interrupts are re-enabled). Syscalls: "
               f"`perf trace -s -p PID` during the second map, per subtask = calls / {n_trace:,}.", "", "```"]
        for name, pid in targets.items():
            spent = (cpu1[name] or 0) - (cpu0[name] or 0)
            out.append(f"{name} (pid {pid}): {spent:.1f} CPU s during the profiled map, "
                       f"{spent / n * 1e6:.1f} µs/subtask")
            out += perf_top(recs[name], 25)
            calls = perf_trace_summary(traces[name])
            top = sorted(calls.items(), key=lambda kv: -kv[1][0])[:10]
            out.append(f"  syscalls per subtask (total {sum(c for c, _ in calls.values()) / n_trace:.2f}):")
            out += [f"    {k:<16} {c / n_trace:8.3f}/subtask  {ms:10.1f} ms in total" for k, (c, ms) in top]
            out.append("")
        out.append("```")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        cl.stop()
    text = "\n".join(out) + "\n"
    print(text)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "profile.md"), "w") as f:
        f.write(text)
    log("bench: written to bench/results/profile.md")
    return 0


# ---------------------------------------------------------------------------------------------
# machine facts and the table


def machine_facts(cfg):
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    git = lambda *a: subprocess.run(["git", "-C", HERE, *a], capture_output=True, text=True).stdout.strip()  # noqa: E731
    rev = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no") != ""
    cache = {}
    try:
        with open(os.path.join(cfg.build_dir, "CMakeCache.txt")) as f:
            for line in f:
                m = re.match(r"^(CMAKE_BUILD_TYPE|CMAKE_CXX_FLAGS):\w+=(.*)$", line.strip())
                if m:
                    cache[m.group(1)] = m.group(2)
    except OSError:
        pass
    redis_v = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()
    with open("/proc/meminfo") as f:
        mem_gib = int(f.readline().split()[1]) / 2**20
    return {"cores": os.cpu_count(), "cpu": model, "mem_gib": round(mem_gib, 1),
            "kernel": platform.release(), "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "rev": rev + ("+dirty" if dirty else ""), "build_type": cache.get("CMAKE_BUILD_TYPE", "?"),
            "cxx_flags": cache.get("CMAKE_CXX_FLAGS", ""), "build_dir": cfg.build_dir,
            "redis": redis_v[2].removeprefix("v=") if len(redis_v) > 2 else "?", "load_before": os.getloadavg(),
            "mode": "quick (BENCH_QUICK=1)" if cfg.quick else "full"}


def facts_line(f):
    load = lambda l: "/".join(f"{x:.2f}" for x in l)  # noqa: E731
    s = (f"{f['date']} · rev {f['rev']} · {f['cores']} cores ({f['cpu']}), {f['mem_gib']} GiB, kernel "
         f"{f['kernel']} · {f['build_type']} build ({f['build_dir']}{', CXXFLAGS ' + f['cxx_flags'] if f['cxx_flags'] else ''})"
         f" · redis {f['redis']} AOF everysec · mode {f['mode']} · load average 1/5/15 min before "
         f"{load(f['load_before'])}")
    if f.get("load_after"):
        s += f", after {load(f['load_after'])}"
    if f.get("duration_s"):
        s += f" · took {f['duration_s'] / 60:.1f} min"
    return s


def met_cell(m):
    return {True: "yes", False: "**no**", None: ""}[m]


def render(cfg, facts, rows, state):
    out = [f"# fanout bench ({facts['mode']})", "", facts_line(facts), "",
           "| case | settings | N | result | target | met | ratio |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        n = f"{r['n']:,}" if isinstance(r.get("n"), int) else str(r.get("n", ""))
        out.append(f"| {r['case']} | {r.get('settings', '')} | {n} | {r['result']} | {r.get('target', '')} | "
                   f"{met_cell(r.get('met'))} | {r.get('ratio', '')} |")
    out += ["", "How each figure is taken:",
            "- end to end = `fanout run --no-wait` start (client clock) → the execution's `ended_ms` in "
            "STATUS (coordinator clock, same host); outputs checked equal to the input (noop) or all "
            "subtasks SUCCEEDED (`true`). One warm-up map of 1,000 first. A map still running after "
            f"{cfg.case_timeout} s (sleep: 10 × its ideal time, `true`: 10 × its time at 1,000/s; at least {10 if cfg.quick else 20} s) is "
            "aborted and its partial rate (done / elapsed) shown.",
            "- defaults = `fanout local` with no flags (one worker per core, default slots and batch, its own "
            "redis-server with AOF everysec); best flags = redis-server + `fanout-coordinator` + "
            f"{cfg.workers} × `fanout-worker` with each flag set of BENCH_BEST: "
            + "; ".join("`" + " ".join(t) + "`" for t in cfg.best) + ".",
            "- sleep: ideal = total slots (from `fanout workers`) × 1,000/s; `builtin.sleep_ms` is a 1 ms "
            "uv timer on the worker's loop.",
            "- RSS: VmHWM of a fresh coordinator (submission and input decoding included; input values "
            "0..999 so that 10M elements fit the CLI's 64 MiB JSON cap); state = max over "
            f"the STATUS polls of `state_bytes` / size; aborted {cfg.rss_max_s} s after the submit returned when not done.",
            "- restart: see case_restart in bench/bench.py: t0 = new coordinator exec'd, first dispatch = "
            "first STATUS poll whose pending (queued+retrying+waiting) count is below the first poll's, "
            "taken when no worker was registered yet.",
            "- submit stall: a second client runs `fanout health` back to back (each a fresh process); "
            "stall = its worst reply latency during the submit − its idle median. Beside it, the coordinator's "
            "own `fanout_loop_turn_seconds` over the same window: the bucket bound that holds its longest turn.",
            "- peers: ../shared/peers scripts, 1 repetition, same machine, same invocation; hand-batched "
            f"variants at N = {cfg.peer_n:,}, one-task-per-item ones at {cfg.peer_stock_n:,} (BENCH_PEER_STOCK_N; "
            "their per-task cost does not depend on N); ratio = fanout's noop subtasks/s (default, and best "
            "flags) ÷ the peer's tasks/s."]
    if state.get("best_runs"):
        out += ["", "Flag sets tried (best-flags case):", ""]
        for r in state["best_runs"]:
            out.append(f"- {r['flags']}: " + (describe(r) if r.get("phase") != "ERROR" else f"ERROR {r['error']}"))
    if state.get("peer_notes"):
        out += ["", "Peer notes:", ""] + [f"- {n}" for n in state["peer_notes"]]
    if state.get("errors"):
        out += ["", "Errors:", ""] + [f"- {e}" for e in state["errors"]]
    return "\n".join(out) + "\n"


def main():
    # SIGTERM (run.sh's trap) unwinds like Ctrl-C: subprocess.run kills the CLI child it waits
    # for, and the `finally` of the running case stops its cluster.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cfg = Config()
    cfg.bindir = os.path.abspath(sys.argv[1])
    cfg.tmp = sys.argv[2]
    cfg.tracker = Tracker(sys.argv[3])
    cfg.build_dir = os.environ.get("BENCH_BUILD_DIR", os.path.dirname(cfg.bindir))
    for b in ("fanout", "fanout-coordinator", "fanout-worker"):
        if not os.access(os.path.join(cfg.bindir, b), os.X_OK):
            sys.exit(f"bench: {cfg.bindir}/{b} missing")
    facts = machine_facts(cfg)
    t0 = time.time()
    if cfg.profile:
        return run_profile(cfg, facts)
    log(f"bench: {facts_line(facts)}")
    log(f"bench: cases {cfg.cases}; N noop {cfg.noop_n:,}, sleep {cfg.sleep_n:,}, true {cfg.true_n:,}, "
        f"rss {cfg.rss_n:,}, restart {cfg.restart_n:,}, submit {cfg.submit_n:,}, peers {cfg.peer_n:,}")
    rows, state, raw = [], {"errors": []}, {}
    for case in cfg.cases:
        log(f"bench: case {case} ({time.time() - t0:.0f} s in)")
        try:
            got = CASES[case](cfg, state)
            for r in (got if isinstance(got, list) else [got]):
                rows.append(r)
                raw.setdefault(case, []).append(r.get("raw"))
        except Exception as e:  # record it, go on with the next case
            log(f"bench: case {case}: ERROR {e}")
            state["errors"].append(f"{case}: {e}")
            rows.append({"case": TITLES[case], "settings": "", "n": "", "result": f"ERROR: {str(e)[:200]}",
                         "target": "", "met": None})
    facts["load_after"] = os.getloadavg()
    facts["duration_s"] = time.time() - t0
    text = render(cfg, facts, rows, state)
    print()
    print(text)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "latest.md"), "w") as f:
        f.write(text)
    with open(os.path.join(HERE, "results", "latest.json"), "w") as f:
        json.dump({"facts": facts, "rows": [{k: v for k, v in r.items() if k != "raw"} for r in rows], "raw": raw},
                  f, indent=1, default=str)
    log("bench: written to bench/results/latest.md (and latest.json)")
    return 1 if state["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
