#!/usr/bin/env python3
"""End-to-end benchmark of fanout: map builtin.noop over N ints on a local cluster.

Called by bench/run.sh (which owns the temp dir and the EXIT trap). Standard library only.

For every configuration (worker --slots x coordinator --max-batch) and every size N, a fresh
cluster is started in the temp dir: redis-server (AOF on, fsync everysec, no RDB), one
fanout-coordinator, 2 fanout-workers. After a 1,000-element warm-up map, VmHWM of the
coordinator and of redis-server is reset (echo 5 > /proc/PID/clear_refs), the map is submitted
with `fanout run --no-wait`, `fanout status -o json` is polled every 200 ms until the execution
is terminal, and `fanout outputs -o json` is checked against the input.

Environment:
  BENCH_SIZES      sizes, default "100000 1000000"
  BENCH_SLOTS      worker --slots values, "default" = the worker's default; default "default 64 256 1024"
  BENCH_MAX_BATCH  coordinator --max-batch values, "default" = 256; default "default 64 1024"
  BENCH_WORKERS    worker processes, default 2 (one per core)
  BENCH_TIMEOUT    seconds before a run is given up and aborted, default 600
  BENCH_POLL_MS    status poll interval, default 200
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def proc_status_kb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_hwm(pid):
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError as e:
        log(f"  cannot reset VmHWM of {pid}: {e}")
        return False


def cpu_s(pid):
    """utime + stime of a process, seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return (int(rest[11]) + int(rest[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for n in files:
            try:
                total += os.path.getsize(os.path.join(root, n))
            except OSError:
                pass
    return total


def redis_cmd(port, *args, timeout=2.0):
    """One RESP command, returns the raw reply bytes (enough for PING/INFO)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        out = f"*{len(args)}\r\n".encode()
        for a in args:
            b = str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(b), b)
        s.sendall(out)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if data.startswith(b"+") or data.startswith(b"-"):
                if data.endswith(b"\r\n"):
                    break
            elif data.startswith(b"$"):
                head, _, body = data.partition(b"\r\n")
                if len(body) >= int(head[1:]) + 2:
                    break
        return data


class Cluster:
    """redis-server + coordinator + workers, all tracked by PID."""

    def __init__(self, bindir, tmp, pidfile, nworkers, slots, max_batch):
        self.bindir, self.tmp, self.pidfile = bindir, tmp, pidfile
        self.nworkers, self.slots, self.max_batch = nworkers, slots, max_batch
        self.procs = {}
        self.logs = []

    def _spawn(self, name, argv):
        logf = open(os.path.join(self.tmp, f"{name}.log"), "wb")
        self.logs.append(logf)
        p = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             cwd=self.tmp)
        self.procs[name] = p
        with open(self.pidfile, "a") as f:  # run.sh's EXIT trap kills these if we die
            f.write(f"{p.pid}\n")
        return p

    def start(self):
        self.rdir = os.path.join(self.tmp, "redis")
        os.makedirs(self.rdir, exist_ok=True)
        self.rport = free_port()
        self._spawn("redis", ["redis-server", "--port", str(self.rport), "--bind", "127.0.0.1",
                              "--dir", self.rdir, "--appendonly", "yes", "--appendfsync", "everysec",
                              "--save", "", "--daemonize", "no", "--protected-mode", "yes"])
        deadline = time.time() + 10
        while True:
            try:
                if redis_cmd(self.rport, "PING").startswith(b"+PONG"):
                    break
            except OSError:
                pass
            if time.time() > deadline or self.procs["redis"].poll() is not None:
                raise RuntimeError("redis-server did not start (see redis.log)")
            time.sleep(0.05)
        self.cport = free_port()
        self.addr = f"tcp://127.0.0.1:{self.cport}"
        cargs = [os.path.join(self.bindir, "fanout-coordinator"), "--redis", f"127.0.0.1:{self.rport}",
                 "--bind", self.addr, "--log-level", "warn"]
        if self.max_batch != "default":
            cargs += ["--max-batch", str(self.max_batch)]
        self._spawn("coordinator", cargs)
        deadline = time.time() + 15
        while subprocess.run([os.path.join(self.bindir, "fanout"), "health", "--coordinator", self.addr,
                              "--timeout", "1s"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL).returncode != 0:
            if time.time() > deadline or self.procs["coordinator"].poll() is not None:
                raise RuntimeError("coordinator did not become healthy (see coordinator.log)")
            time.sleep(0.1)
        for i in range(self.nworkers):
            wargs = [os.path.join(self.bindir, "fanout-worker"), "--coordinator", self.addr,
                     "--log-level", "warn", "--id", f"bench-w{i}"]
            if self.slots != "default":
                wargs += ["--slots", str(self.slots)]
            self._spawn(f"worker{i}", wargs)
        deadline = time.time() + 15
        while True:
            r = self.cli("workers", "-o", "json", check=False)
            if r.returncode == 0:
                ws = json.loads(r.stdout).get("workers", [])
                if len(ws) >= self.nworkers:
                    self.total_slots = sum(w.get("slots", 0) for w in ws)
                    self.worker_slots = ws[0].get("slots")
                    break
            if time.time() > deadline:
                raise RuntimeError("workers did not register (see worker*.log)")
            time.sleep(0.1)

    def pid(self, name):
        return self.procs[name].pid

    def worker_names(self):
        return [n for n in self.procs if n.startswith("worker")]

    def cli(self, *args, check=True, timeout="30s"):
        argv = [os.path.join(self.bindir, "fanout"), *args, "--coordinator", self.addr, "--timeout", timeout]
        r = subprocess.run(argv, capture_output=True, text=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {r.returncode}: {r.stderr.strip()[:500]}")
        return r

    def stop(self):
        # workers first, then the coordinator, then redis; each by its own PID
        order = self.worker_names() + ["coordinator", "redis"]
        for n in order:
            p = self.procs.get(n)
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for f in self.logs:
            f.close()
        self.procs.clear()


def run_map(cl, spec, xs_file, n, poll_s, timeout_s):
    bindir = cl.bindir
    coord, redis = cl.pid("coordinator"), cl.pid("redis")
    workers = [cl.pid(w) for w in cl.worker_names()]
    res = {}

    reset_hwm(coord)
    reset_hwm(redis)
    cpu0 = {"coordinator": cpu_s(coord), "redis": cpu_s(redis), "workers": sum(cpu_s(w) or 0 for w in workers)}
    ru0 = os.times()

    t_submit = time.time()
    r = cl.cli("run", spec, "-i", f"xs=@{xs_file}", "--no-wait", timeout="120s")
    t_submitted = time.time()
    ru1 = os.times()
    exe = r.stdout.strip().split()[-1]
    res["execution"] = exe
    res["submit_s"] = t_submitted - t_submit
    res["submit_cli_cpu_s"] = (ru1.children_user - ru0.children_user) + (ru1.children_system - ru0.children_system)
    # where the coordinator's peak comes from: submission (input decoding) vs the run vs the end
    res["coord_hwm_after_submit_kb"] = proc_status_kb(coord, "VmHWM")

    half_state = None
    max_state = 0
    max_running = 0
    samples = 0
    doc = None
    next_poll = time.time()
    while True:
        now = time.time()
        if now < next_poll:
            time.sleep(next_poll - now)
        next_poll = time.time() + poll_s
        st = cl.cli("status", exe, "-o", "json", check=False)
        t_obs = time.time()
        if st.returncode not in (0, 1):
            raise RuntimeError(f"fanout status exited {st.returncode}: {st.stderr.strip()[:300]}")
        doc = json.loads(st.stdout)
        samples += 1
        node = doc["nodes"][0]
        done = node["counts"]["succeeded"] + node["counts"]["failed"] + node["counts"]["aborted"]
        running = node["counts"]["running"]
        max_running = max(max_running, running)
        if doc["phase"] in ("QUEUED", "RUNNING") or node["phase"] not in ("SUCCEEDED", "FAILED", "ABORTED"):
            sb = node.get("state_bytes", 0)
            max_state = max(max_state, sb)
            if half_state is None and done >= n // 2:
                half_state = (sb, done)
                res["coord_rss_mid_kb"] = proc_status_kb(coord, "VmRSS")
                res["redis_rss_mid_kb"] = proc_status_kb(redis, "VmRSS")
        if doc["phase"] in ("SUCCEEDED", "FAILED", "ABORTED"):
            break
        if t_obs - t_submit > timeout_s:
            res["timeout"] = True
            res["done_at_timeout"] = done
            cl.cli("abort", exe, check=False)
            break
    t_end = time.time()
    cpu1 = {"coordinator": cpu_s(coord), "redis": cpu_s(redis), "workers": sum(cpu_s(w) or 0 for w in workers)}
    res["cpu_s"] = {k: round(cpu1[k] - cpu0[k], 2) for k in cpu0 if cpu0[k] is not None and cpu1[k] is not None}
    res["phase"] = doc["phase"]
    res["e2e_s"] = t_end - t_submit
    res["e2e_per_s"] = n / res["e2e_s"]
    c_ms, e_ms = doc.get("created_ms"), doc.get("ended_ms")
    if c_ms and e_ms:
        res["coord_s"] = (e_ms - c_ms) / 1000
        res["coord_per_s"] = n / res["coord_s"] if e_ms > c_ms else None
        # same host, same wall clock: where the end-to-end time goes
        res["submit_to_created_s"] = c_ms / 1000 - t_submit
        res["submit_to_ended_s"] = e_ms / 1000 - t_submit
    res["polls"] = samples
    res["max_running"] = max_running
    if half_state is None and max_state:
        half_state = (max_state, None)
    if half_state:
        res["state_bytes_mid"] = half_state[0]
        res["state_sampled_at_done"] = half_state[1]
        res["state_bytes_per_subtask"] = half_state[0] / n
    res["state_bytes_max"] = max_state
    res["state_bytes_final"] = doc["nodes"][0].get("state_bytes")
    res["coord_hwm_kb"] = proc_status_kb(coord, "VmHWM")
    res["coord_rss_end_kb"] = proc_status_kb(coord, "VmRSS")
    res["redis_hwm_kb"] = proc_status_kb(redis, "VmHWM")

    if doc["phase"] == "SUCCEEDED":
        t0 = time.time()
        out = cl.cli("outputs", exe, "-o", "json", check=False, timeout="120s")
        res["outputs_s"] = time.time() - t0
        res["coord_hwm_after_outputs_kb"] = proc_status_kb(coord, "VmHWM")
        ok = False
        if out.returncode != 0:
            res["check_detail"] = f"fanout outputs exited {out.returncode}: {out.stderr.strip()[:300]}"
        else:
            try:
                got = json.loads(out.stdout)["outputs"]["o0"]
                with open(xs_file) as f:
                    want = json.load(f)
                ok = got == want
                if not ok:
                    first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), None)
                    res["check_detail"] = (f"got {len(got)} elements, want {len(want)}; first difference at "
                                           f"{first}: {got[first] if first is not None else '-'} != "
                                           f"{want[first] if first is not None else '-'}")
            except (ValueError, KeyError, TypeError) as e:
                res["check_detail"] = f"bad outputs document ({e}): {out.stdout[:300]!r} {out.stderr[:300]!r}"
        res["check"] = "OK" if ok else "MISMATCH"
        if not ok:
            log(f"  check failed: {res.get('check_detail')}")
    else:
        res["check"] = "NOT_SUCCEEDED"
    # let the everysec fsync and the trailing writes land, then measure the AOF
    time.sleep(1.2)
    res["aof_bytes"] = dir_bytes(cl.rdir)
    try:  # Redis rewrites the AOF on its own when it doubles past 64 MB: say so next to its size
        info = redis_cmd(cl.rport, "INFO", "all").decode(errors="replace")
        for line in info.splitlines():
            k, _, v = line.partition(":")
            if k in ("aof_rewrites", "aof_current_size", "aof_base_size", "total_commands_processed",
                     "used_memory_peak", "instantaneous_ops_per_sec"):
                res["redis_" + k] = int(v) if v.strip().isdigit() else v.strip()
            elif k == "cmdstat_eval":
                res["redis_cmdstat_eval"] = v.strip()
    except OSError:
        pass
    res["redis_rss_end_kb"] = proc_status_kb(redis, "VmRSS")
    return res


def fmt_int(v):
    return "-" if v is None else f"{v:,.0f}"


def fmt_f(v, d=2):
    return "-" if v is None else f"{v:,.{d}f}"


def mib(kb):
    return "-" if kb is None else f"{kb / 1024:,.0f}"


def main():
    bindir = os.path.abspath(sys.argv[1])
    tmp = sys.argv[2]
    pidfile = sys.argv[3]
    here = os.path.dirname(os.path.abspath(__file__))
    spec = os.path.join(here, "noop.yaml")
    sizes = [int(s) for s in os.environ.get("BENCH_SIZES", "100000 1000000").split()]
    slots_l = os.environ.get("BENCH_SLOTS", "default 64 256 1024").split()
    batch_l = os.environ.get("BENCH_MAX_BATCH", "default 64 1024").split()
    nworkers = int(os.environ.get("BENCH_WORKERS", "2"))
    timeout_s = float(os.environ.get("BENCH_TIMEOUT", "600"))
    poll_s = float(os.environ.get("BENCH_POLL_MS", "200")) / 1000
    for b in ("fanout", "fanout-coordinator", "fanout-worker"):
        if not os.access(os.path.join(bindir, b), os.X_OK):
            sys.exit(f"bench: {bindir}/{b} missing; run `make build` first")

    import hashlib
    bin_sha = {}
    for b in ("fanout", "fanout-coordinator", "fanout-worker"):
        with open(os.path.join(bindir, b), "rb") as f:
            bin_sha[b] = hashlib.sha256(f.read()).hexdigest()[:12]
    git_rev = subprocess.run(["git", "-C", here, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", here, "status", "--porcelain", "--", "../coordinator", "../common",
                            "../worker", "../cli"], capture_output=True, text=True).stdout.strip() != ""
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    log(f"bench: sizes={sizes} slots={slots_l} max_batch={batch_l} workers={nworkers} "
        f"cores={os.cpu_count()} rev={git_rev}{'+dirty' if dirty else ''} bin={bin_sha}")

    warm = os.path.join(tmp, "warm.json")
    with open(warm, "w") as f:
        json.dump(list(range(1000)), f)
    inputs = {}
    for n in sizes:
        path = os.path.join(tmp, f"xs-{n}.json")
        with open(path, "w") as f:  # negatives and values beyond 32 bits, in order
            json.dump([i * 4099 - n * 2048 for i in range(n)], f, separators=(",", ":"))
        inputs[n] = path

    results = []
    for slots in slots_l:
        for mb in batch_l:
            for n in sizes:
                cl = Cluster(bindir, tmp, pidfile, nworkers, slots, mb)
                label = f"slots={slots} max_batch={mb} N={n}"
                try:
                    cl.start()
                    w = run_map(cl, spec, warm, 1000, poll_s, 60)
                    if w["check"] != "OK":
                        raise RuntimeError(f"warm-up map: {w['check']}")
                    r = run_map(cl, spec, inputs[n], n, poll_s, timeout_s)
                except Exception as e:  # record and go on with the next configuration
                    log(f"  {label}: ERROR {e}")
                    r = {"error": str(e), "phase": "ERROR", "check": "ERROR"}
                finally:
                    cl.stop()
                    for d in ("redis",):
                        subprocess.run(["rm", "-rf", os.path.join(tmp, d)])
                r.update({"n": n, "slots_per_worker": slots if slots != "default" else f"default({getattr(cl, 'worker_slots', '?')})",
                          "max_batch": mb if mb != "default" else "default(256)", "workers": nworkers,
                          "total_slots": getattr(cl, "total_slots", None)})
                results.append(r)
                log(f"  {label}: {r.get('phase')} e2e {fmt_f(r.get('e2e_s'))} s "
                    f"({fmt_int(r.get('e2e_per_s'))}/s), coordinator {fmt_f(r.get('coord_s'))} s "
                    f"({fmt_int(r.get('coord_per_s'))}/s), submit {fmt_f(r.get('submit_s'))} s, "
                    f"coord HWM {mib(r.get('coord_hwm_kb'))} MiB, state {fmt_f(r.get('state_bytes_per_subtask'))} B/subtask, "
                    f"cpu {r.get('cpu_s')}, max running {fmt_int(r.get('max_running'))}, {r.get('check')}")

    # table
    print()
    print(f"fanout end-to-end: builtin.noop map, {nworkers} workers, {os.cpu_count()} cores, redis AOF "
          f"everysec, rev {git_rev}{'+dirty' if dirty else ''}, {started}")
    print()
    hdr = ["slots/worker", "max-batch", "N", "e2e s", "e2e subtasks/s", "coord created→ended s",
           "coord subtasks/s", "submit s", "outputs s", "coord peak RSS MiB (after submit)", "state B/subtask (~50%)",
           "redis peak RSS MiB", "AOF MiB (rewrites)", "CPU s coord/redis/workers", "max running", "check"]
    print("| " + " | ".join(hdr) + " |")
    print("|" + "---|" * len(hdr))
    for r in results:
        cpu = r.get("cpu_s") or {}
        row = [str(r["slots_per_worker"]), str(r["max_batch"]), f"{r['n']:,}", fmt_f(r.get("e2e_s")),
               fmt_int(r.get("e2e_per_s")), fmt_f(r.get("coord_s")), fmt_int(r.get("coord_per_s")),
               fmt_f(r.get("submit_s")), fmt_f(r.get("outputs_s")),
               f"{mib(r.get('coord_hwm_kb'))} ({mib(r.get('coord_hwm_after_submit_kb'))})",
               fmt_f(r.get("state_bytes_per_subtask")), mib(r.get("redis_hwm_kb")),
               (fmt_f((r.get("aof_bytes") or 0) / 2**20, 1) + (f" ({r['redis_aof_rewrites']} rw)" if r.get("redis_aof_rewrites") else "")) if r.get("aof_bytes") else "-",
               "/".join(fmt_f(cpu.get(k), 1) for k in ("coordinator", "redis", "workers")) if cpu else "-",
               fmt_int(r.get("max_running")),
               r.get("check") + (" (timeout)" if r.get("timeout") else "")]
        print("| " + " | ".join(row) + " |")
    print()
    for n in sizes:
        ok = [r for r in results if r["n"] == n and r.get("check") == "OK"]
        if not ok:
            print(f"N={n:,}: no successful run")
            continue
        best = max(ok, key=lambda r: r["e2e_per_s"])
        dflt = [r for r in ok if str(r["slots_per_worker"]).startswith("default")
                and str(r["max_batch"]).startswith("default")]
        line = (f"N={n:,}: best e2e {best['e2e_per_s']:,.0f} subtasks/s (slots/worker {best['slots_per_worker']}, "
                f"max-batch {best['max_batch']})")
        if dflt:
            line += f"; default configuration {dflt[0]['e2e_per_s']:,.0f} subtasks/s"
        print(line)
    print("e2e = `fanout run --no-wait` start → status poll (every "
          f"{poll_s * 1000:.0f} ms) sees SUCCEEDED; coord = created_ms→ended_ms of the status document; "
          "RSS = VmHWM, reset before the measured map; state = state_bytes / N sampled at ≥50% done; "
          "CPU = utime+stime during the measured map.")

    complete = all(r.get("check") == "OK" for r in results)
    if complete:
        os.makedirs(os.path.join(here, "results"), exist_ok=True)
        with open(os.path.join(here, "results", "latest.jsonl"), "a") as f:
            for r in results:
                rec = {"bench": "noop-map", "started": started, "rev": git_rev, "dirty": dirty,
                       "cores": os.cpu_count(), "bin_sha256": bin_sha, **r}
                f.write(json.dumps(rec, sort_keys=True) + "\n")
        log("bench: results appended to bench/results/latest.jsonl")
    else:
        log("bench: some runs failed or did not check OK; results NOT written to bench/results/")
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
