"""The clusters the bench starts, and the /proc helpers it measures their processes with.

Standard library only; used by bench.py. Everything is driven through the command-line
interfaces (`fanout local`, `fanout-coordinator`, `fanout-worker`, the `fanout` CLI), never the
wire protocol, so the harness keeps working while the daemons are rewritten.

Cleanup contract: every process started here is recorded in the pid file that bench/run.sh's
EXIT trap reads (a line "PID", or "-PGID" for a whole process group of a session we created),
so an interrupted run leaves nothing behind. A normal run stops each cluster itself.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def proc_status_kb(pid, field):
    """A kB field of /proc/PID/status (VmRSS, VmHWM), or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_hwm(pid):
    """Resets VmHWM to the current RSS (writing 5 to clear_refs, Linux >= 4.0)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError as e:
        log(f"  cannot reset VmHWM of {pid}: {e}")
        return False


def cpu_s(pid):
    """utime + stime of a process in seconds, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return (int(rest[11]) + int(rest[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def children(pid):
    """Direct children of pid (needs CONFIG_PROC_CHILDREN; falls back to a /proc scan)."""
    kids = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(x) for x in f.read().split()]
        return kids
    except OSError:
        pass
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return kids


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for n in files:
            try:
                total += os.path.getsize(os.path.join(root, n))
            except OSError:
                pass
    return total


def tcp_open(port, timeout=0.05):
    """True when something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def redis_cmd(port, *args, timeout=2.0):
    """One RESP command; returns the raw reply bytes (enough for PING and INFO)."""
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
            if data[:1] in (b"+", b"-", b":"):
                if data.endswith(b"\r\n"):
                    break
            elif data.startswith(b"$"):
                head, _, body = data.partition(b"\r\n")
                if len(body) >= int(head[1:]) + 2:
                    break
        return data


def redis_info(port):
    """INFO all as a dict of strings ({} when Redis does not answer)."""
    try:
        text = redis_cmd(port, "INFO", "all").decode(errors="replace")
    except OSError:
        return {}
    info = {}
    for line in text.splitlines():
        k, sep, v = line.partition(":")
        if sep:
            info[k] = v.strip()
    return info


def stop_popen(p, timeout=15):
    """SIGTERM, then SIGKILL after timeout s; only this Popen's own PID."""
    if p is None or p.poll() is not None:
        return
    try:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    except ProcessLookupError:
        pass


def stop_pid(pid, timeout=15):
    """SIGTERM a process that is not our child, wait for it to go, then SIGKILL."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class Tracker:
    """Appends what we start to run.sh's pid file."""

    def __init__(self, pidfile):
        self.pidfile = pidfile

    def _write(self, line):
        with open(self.pidfile, "a") as f:
            f.write(line + "\n")

    def pid(self, pid):
        self._write(str(pid))

    def group(self, pgid):
        self._write(f"-{pgid}")


class Cluster:
    """What every cluster offers: an address, the CLI, and the PIDs of its daemons."""

    def __init__(self, bindir, tmp, tracker, name):
        self.bindir, self.tracker = bindir, tracker
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.home = os.path.join(self.dir, "home")  # FANOUT_HOME: keys, data, logs
        os.makedirs(self.home, exist_ok=True)
        self.env = dict(os.environ, FANOUT_HOME=self.home)
        self.env.pop("FANOUT_COORDINATOR", None)
        self.pids = {}  # coordinator, redis, worker0.. -> PID
        self.addr = None
        self.rdir = None
        self.rport = None
        self.total_slots = None
        self.worker_slots = None
        self.nworkers = None

    def exe(self, name):
        return os.path.join(self.bindir, name)

    def cli(self, *args, check=True, timeout="30s"):
        argv = [self.exe("fanout"), *args, "--coordinator", self.addr, "--timeout", timeout]
        r = subprocess.run(argv, capture_output=True, text=True, env=self.env, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:3])} ... exited {r.returncode}: {r.stderr.strip()[:500]}")
        return r

    def worker_pids(self):
        return [p for n, p in self.pids.items() if n.startswith("worker")]

    def wait_workers(self, want, timeout_s=30):
        """Waits until `want` workers are registered; records their slots."""
        deadline = time.time() + timeout_s
        while True:
            r = self.cli("workers", "-o", "json", check=False, timeout="2s")
            if r.returncode == 0:
                ws = json.loads(r.stdout).get("workers", [])
                if len(ws) >= want:
                    self.nworkers = len(ws)
                    self.total_slots = sum(w.get("slots", 0) for w in ws)
                    self.worker_slots = sorted({w.get("slots") for w in ws})
                    return
            dead = [n for n, p in getattr(self, "procs", {}).items() if n.startswith("worker") and p.poll() is not None]
            if dead:
                with open(os.path.join(self.dir, f"{dead[0]}.log"), errors="replace") as f:
                    tail = f.read()[-300:].strip().replace("\n", " | ")
                raise RuntimeError(f"{dead[0]} exited: {tail}")
            if time.time() > deadline:
                raise RuntimeError(f"{want} workers did not register within {timeout_s}s (logs in {self.dir})")
            time.sleep(0.1)


class LocalCluster(Cluster):
    """`fanout local`: the cluster a user gets with no flags (one worker per core, defaults)."""

    proc = None

    def start(self, ready_timeout_s=60):
        self.out_path = os.path.join(self.dir, "local.out")
        self.proc = subprocess.Popen([self.exe("fanout"), "local"], cwd=self.dir, env=self.env,
                                     stdin=subprocess.DEVNULL, stdout=open(self.out_path, "wb"),
                                     stderr=open(os.path.join(self.dir, "local.err"), "wb"),
                                     start_new_session=True)
        self.tracker.group(self.proc.pid)
        deadline = time.time() + ready_timeout_s
        while self.addr is None:
            with open(self.out_path) as f:
                for line in f:
                    if line.startswith("FANOUT_COORDINATOR="):
                        self.addr = line.strip().split("=", 1)[1]
            if self.addr:
                break
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"`fanout local` did not become ready (see {self.dir}/local.err)")
            time.sleep(0.05)
        # Its daemons run in process groups of their own: record them by PID.
        workers = 0
        for pid in children(self.proc.pid):
            self.tracker.pid(pid)
            c = comm(pid)
            if c.startswith("redis"):
                self.pids["redis"] = pid
            elif c.startswith("fanout-coord"):
                self.pids["coordinator"] = pid
            elif c.startswith("fanout-worker"):
                self.pids[f"worker{workers}"] = pid
                workers += 1
        if "coordinator" not in self.pids or "redis" not in self.pids or workers == 0:
            raise RuntimeError(f"cannot find the daemons of `fanout local` (children: {self.pids})")
        self.rdir = os.path.join(self.home, "redis")
        with open(f"/proc/{self.pids['redis']}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        self.rport = int(argv[argv.index(b"--port") + 1]) if b"--port" in argv else None
        self.wait_workers(workers)
        return self

    def loop_turns(self):
        """The coordinator's fanout_loop_turn_seconds buckets from /metrics, {upper bound in s:
        cumulative count}; None when its HTTP address is not in its log or /metrics does not
        answer."""
        url = None
        try:
            with open(os.path.join(self.home, "logs", "coordinator.log")) as f:
                for line in f:
                    if line.startswith("FANOUT_COORDINATOR_HTTP="):
                        url = line.strip().split("=", 1)[1]
        except OSError:
            return None
        if not url:
            return None
        try:
            with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
                text = r.read().decode()
        except OSError:
            return None
        buckets = {}
        for m in re.finditer(r'^fanout_loop_turn_seconds_bucket\{le="([^"]+)"\} (\d+)$', text, re.M):
            buckets[float("inf") if m.group(1) == "+Inf" else float(m.group(1))] = int(m.group(2))
        return buckets or None

    def stop(self):
        stop_popen(self.proc, timeout=60)  # it stops its daemons in order
        for pid in self.pids.values():      # anything it left
            stop_pid(pid, timeout=2)


class DaemonCluster(Cluster):
    """redis-server (AOF everysec) + fanout-coordinator + fanout-worker x N, each with the flags
    given; all in one process group of their own."""

    def __init__(self, bindir, tmp, tracker, name, nworkers, coord_flags=(), worker_flags=()):
        super().__init__(bindir, tmp, tracker, name)
        self.nworkers_wanted = nworkers
        self.coord_flags, self.worker_flags = list(coord_flags), list(worker_flags)
        self.procs = {}
        self.pgid = None

    def _spawn(self, name, argv):
        logf = open(os.path.join(self.dir, f"{name}.log"), "ab")
        # One process group for the cluster (in our session: setpgid cannot cross sessions),
        # not the foreground one, so a terminal's Ctrl-C reaches only the driver.
        kw = {"process_group": 0 if self.pgid is None else self.pgid}
        p = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             cwd=self.dir, env=self.env, **kw)
        logf.close()
        if self.pgid is None:
            self.pgid = p.pid
            self.tracker.group(p.pid)
        self.procs[name] = p
        self.pids[name] = p.pid
        return p

    def start(self):
        self.rdir = os.path.join(self.dir, "redis")
        os.makedirs(self.rdir, exist_ok=True)
        self.rport = free_port()
        self._spawn("redis", ["redis-server", "--port", str(self.rport), "--bind", "127.0.0.1",
                              "--dir", self.rdir, "--appendonly", "yes", "--appendfsync", "everysec",
                              "--save", "", "--daemonize", "no"])
        deadline = time.time() + 15
        while True:
            try:
                if redis_cmd(self.rport, "PING").startswith(b"+PONG"):
                    break
            except OSError:
                pass
            if time.time() > deadline or self.procs["redis"].poll() is not None:
                raise RuntimeError(f"redis-server did not start (see {self.dir}/redis.log)")
            time.sleep(0.05)
        self.cport = free_port()
        self.addr = f"tcp://127.0.0.1:{self.cport}"
        self.spawn_coordinator()
        deadline = time.time() + 30
        while self.cli("health", check=False, timeout="1s").returncode != 0:
            if time.time() > deadline or self.procs["coordinator"].poll() is not None:
                raise RuntimeError(f"the coordinator did not become healthy (see {self.dir}/coordinator.log)")
            time.sleep(0.1)
        for i in range(self.nworkers_wanted):
            self._spawn(f"worker{i}", [self.exe("fanout-worker"), "--coordinator", self.addr,
                                       *self.worker_flags])
        self.wait_workers(self.nworkers_wanted)
        return self

    def spawn_coordinator(self):
        return self._spawn("coordinator", [self.exe("fanout-coordinator"), "--redis",
                                           f"127.0.0.1:{self.rport}", "--bind", self.addr,
                                           *self.coord_flags])

    def kill_coordinator(self):
        p = self.procs["coordinator"]
        p.kill()
        p.wait()

    def stop(self):
        order = [n for n in self.procs if n.startswith("worker")] + ["coordinator", "redis"]
        for n in order:
            stop_popen(self.procs.get(n))
        self.procs.clear()
