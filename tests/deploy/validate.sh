#!/usr/bin/env bash
# Static checks of the deployment files, with whatever tools this machine has (no Docker
# engine needed). A check whose tool is missing is skipped with a message, never failed.
#
#   tests/deploy/validate.sh [REPO_ROOT]
#
# Checks: docker-compose.yml parses as YAML and has the structure deploy/ relies on;
# `docker-compose config -q` accepts it; `systemd-analyze verify` prints nothing for the
# units; every Dockerfile instruction is a known keyword and HEALTHCHECK, STOPSIGNAL, USER
# and a multi-stage build are present; shell scripts pass shellcheck.
# Exit 0 when nothing failed, 1 otherwise.
set -uo pipefail

ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
COMPOSE=$ROOT/docker-compose.yml
DOCKERFILE=$ROOT/deploy/Dockerfile
UNITS=$ROOT/deploy/systemd

failures=0
pass() { printf 'ok    %s\n' "$*"; }
fail() { printf 'FAIL  %s\n' "$*"; failures=$((failures + 1)); }
skip() { printf 'skip  %s\n' "$*"; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# ---- docker-compose.yml: YAML and structure ---------------------------------------------
if [ ! -f "$COMPOSE" ]; then
  fail "missing $COMPOSE"
elif command -v python3 >/dev/null 2>&1 && python3 -c 'import yaml' 2>/dev/null; then
  if out=$(python3 - "$COMPOSE" 2>&1 <<'EOF'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
errs = []
def need(cond, msg):
    if not cond:
        errs.append(msg)
need(isinstance(doc, dict), "top level is not a mapping")
need("name" not in doc, "top-level 'name:' is rejected by docker-compose v1")
s = doc.get("services", {})
for svc in ("redis", "coordinator", "worker"):
    need(svc in s, f"service '{svc}' missing")
r, c, w = s.get("redis", {}), s.get("coordinator", {}), s.get("worker", {})
cmd = " ".join(map(str, r.get("command", [])))
need("--appendonly yes" in cmd, "redis: --appendonly yes missing")
need("--appendfsync" in cmd, "redis: --appendfsync missing")
hc = " ".join(map(str, r.get("healthcheck", {}).get("test", [])))
need("PONG" in hc, "redis: healthcheck must check the PONG (redis-cli exits 0 on errors)")
need(any(str(v).endswith(":/data") for v in r.get("volumes", [])), "redis: no volume on /data")
need("redis-data" in (doc.get("volumes") or {}), "named volume redis-data not declared")
need(c.get("depends_on", {}).get("redis", {}).get("condition") == "service_healthy",
     "coordinator: depends_on redis service_healthy missing")
need("health" in c.get("healthcheck", {}).get("test", []), "coordinator: healthcheck is not fanout health")
need(c.get("restart") == "unless-stopped", "coordinator: restart unless-stopped missing")
need("container_name" not in w, "worker: container_name prevents scaling")
need("ports" not in w, "worker: published ports prevent scaling")
need(w.get("deploy", {}).get("replicas") == 3, "worker: deploy.replicas: 3 missing")
need(w.get("init") is True, "worker: init: true missing")
need(w.get("depends_on", {}).get("coordinator", {}).get("condition") == "service_healthy",
     "worker: depends_on coordinator service_healthy missing")
need(w.get("environment", {}).get("FANOUT_COORDINATOR") == "tcp://coordinator:7800",
     "worker: FANOUT_COORDINATOR missing")
def secs(v):
    v = str(v); total = 0; num = ""
    for ch in v:
        if ch.isdigit(): num += ch
        else:
            total += int(num or 0) * {"h": 3600, "m": 60, "s": 1}.get(ch, 0); num = ""
    return total + int(num or 0)
# The worker drain waits up to 10 s for ACKs after its attempts finish.
need(secs(w.get("stop_grace_period", "10s")) >= 20, "worker: stop_grace_period < drain (ACK wait 10 s + work)")
# Issue 10: keys for everyone, Redis reachable by the coordinator only and with a password.
k = s.get("keys", {})
need(k.get("restart") == "no" and k.get("network_mode") == "none", "keys: must be a one-shot service without network")
need("/secret/redis.conf" in cmd, "redis: must read its password from /secret/redis.conf")
need(r.get("networks") == ["backend"], "redis: must be on the backend network only")
need(((doc.get("networks") or {}).get("backend") or {}).get("internal") is True, "network backend must be internal")
need("backend" in c.get("networks", []), "coordinator: must share the backend network with redis")
need("backend" not in w.get("networks", ["default"]), "worker: must not reach the backend network (redis)")
ccmd = " ".join(map(str, c.get("command", [])))
need("--keys-dir" in ccmd, "coordinator: --keys-dir missing (a non-loopback bind needs keys)")
need("--redis-password-file" in ccmd, "coordinator: --redis-password-file missing")
need("--redis-password " not in ccmd + " ", "coordinator: a password on the command line is visible in ps")
need(w.get("environment", {}).get("FANOUT_KEY") and w.get("environment", {}).get("FANOUT_SERVER_KEY"),
     "worker: FANOUT_KEY / FANOUT_SERVER_KEY missing")
need(not any("redis-secret" in str(v) or "coordinator-keys" in str(v) for v in w.get("volumes", [])),
     "worker: must not mount the coordinator's secrets")
for svc in ("redis", "coordinator"):
    need(s.get(svc, {}).get("depends_on", {}).get("keys", {}).get("condition") == "service_completed_successfully",
         f"{svc}: depends_on keys service_completed_successfully missing")
# HTTP (docs/operations.md): published on the host's loopback only; beyond the container's
# loopback it needs the token file; Prometheus is optional (a profile) and reads the token.
cargs = [str(a) for a in c.get("command", [])]
need("--http-bind" in cargs and "--http-token-file" in cargs,
     "coordinator: --http-bind with --http-token-file missing")
need(any(str(p).startswith("127.0.0.1:") and str(p).endswith(":7880") for p in c.get("ports", [])),
     "coordinator: HTTP 7880 not published on the host's loopback")
need(all(str(p).startswith("127.0.0.1:") for p in c.get("ports", [])),
     "coordinator: a port is published beyond the host's loopback")
t = s.get("http-token", {})
need(bool(t), "service 'http-token' (makes the HTTP bearer token) missing")
need(c.get("depends_on", {}).get("http-token", {}).get("condition") == "service_completed_successfully",
     "coordinator: depends_on http-token service_completed_successfully missing")
p = s.get("prometheus", {})
need("monitoring" in p.get("profiles", []), "prometheus: not in the 'monitoring' profile (it must stay optional)")
need(all(str(x).startswith("127.0.0.1:") for x in p.get("ports", [])), "prometheus: published beyond loopback")
need(any("deploy/prometheus.yml" in str(v) for v in p.get("volumes", [])), "prometheus: deploy/prometheus.yml not mounted")
for name, svc in s.items():
    h = svc.get("healthcheck")
    if h and not h.get("disable"):
        need("interval" in h and "start_period" in h, f"{name}: healthcheck without interval/start_period")
for e in errs:
    print(e)
sys.exit(1 if errs else 0)
EOF
  ); then
    pass "docker-compose.yml: YAML parses; structure as deploy/ expects"
  else
    fail "docker-compose.yml: $out"
  fi
else
  skip "docker-compose.yml YAML check: python3 with the yaml module is not installed"
fi

# ---- deploy/prometheus.yml: promtool check config ---------------------------------------
PROM=$ROOT/deploy/prometheus.yml
if [ ! -f "$PROM" ]; then
  fail "missing $PROM"
elif command -v promtool >/dev/null 2>&1; then
  # promtool checks that the token file exists: point it at a stand-in.
  echo stand-in-token >"$TMP/http-token"
  sed "s#/run/fanout-secrets/http-token#$TMP/http-token#" "$PROM" >"$TMP/prometheus.yml"
  if out=$(promtool check config "$TMP/prometheus.yml" 2>&1); then
    pass "deploy/prometheus.yml: promtool check config"
  else
    fail "deploy/prometheus.yml: $out"
  fi
  grep -q 'coordinator:7880' "$PROM" || fail "deploy/prometheus.yml: does not scrape coordinator:7880"
else
  skip "deploy/prometheus.yml: promtool is not installed (Debian package prometheus)"
fi

# ---- docs/operations.md's sample alert file: promtool check rules -----------------------
OPS=$ROOT/docs/operations.md
if command -v promtool >/dev/null 2>&1; then
  awk '/^A sample alert file:/{f=1;next} f&&/^```yaml/{p=1;next} p&&/^```/{exit} p' "$OPS" >"$TMP/alerts.yml"
  if [ ! -s "$TMP/alerts.yml" ]; then
    fail "docs/operations.md: no sample alert file (a yaml block after 'A sample alert file:')"
  elif out=$(promtool check rules "$TMP/alerts.yml" 2>&1); then
    pass "docs/operations.md sample alerts: promtool check rules"
  else
    fail "docs/operations.md sample alerts: $out"
  fi
else
  skip "docs/operations.md sample alerts: promtool is not installed (Debian package prometheus)"
fi

# ---- docker-compose config -q -----------------------------------------------------------
if command -v docker-compose >/dev/null 2>&1; then
  if out=$(cd "$ROOT" && docker-compose -f "$COMPOSE" config -q 2>&1); then
    pass "docker-compose config -q ($(docker-compose version --short 2>/dev/null || echo '?'))"
  else
    fail "docker-compose config -q: $out"
  fi
elif docker compose version >/dev/null 2>&1; then
  if out=$(cd "$ROOT" && docker compose -f "$COMPOSE" config -q 2>&1); then
    pass "docker compose config -q"
  else
    fail "docker compose config -q: $out"
  fi
else
  skip "compose config: neither docker-compose nor the docker compose plugin is installed"
fi

# ---- systemd units ----------------------------------------------------------------------
if command -v systemd-analyze >/dev/null 2>&1; then
  # verify needs ExecStart= to exist: point /opt/fanout/bin at the build tree if there is
  # one, else at stand-ins. A template is verified as an instance (@1).
  bindir=$ROOT/build/bin
  if [ ! -x "$bindir/fanout-worker" ] || [ ! -x "$bindir/fanout-coordinator" ]; then
    bindir=$TMP/bin
    mkdir -p "$bindir"
    for b in fanout fanout-coordinator fanout-worker; do ln -s /bin/true "$bindir/$b"; done
  fi
  found=0
  for unit in "$UNITS"/*.service; do
    [ -e "$unit" ] || continue
    found=1
    base=$(basename "$unit")
    inst=${base/@.service/@1.service}
    sed "s#/opt/fanout/bin/#$bindir/#g" "$unit" >"$TMP/$inst"
    # systemd-analyze returns 0 even on parse warnings: any output is a failure.
    out=$(cd "$TMP" && systemd-analyze verify "./$inst" 2>&1)
    rc=$?
    if [ $rc -eq 0 ] && [ -z "$out" ]; then
      pass "systemd-analyze verify $base"
    else
      fail "systemd-analyze verify $base (rc $rc): $out"
    fi
    grep -q '^KillSignal=SIGTERM' "$unit" || fail "$base: KillSignal=SIGTERM missing"
    grep -q '^TimeoutStopSec=' "$unit" || fail "$base: TimeoutStopSec missing"
  done
  [ $found -eq 1 ] || fail "no unit in $UNITS"
  if [ -f "$UNITS/fanout-worker@.service" ]; then
    t=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s\{0,1\}$/\1/p' "$UNITS/fanout-worker@.service")
    if [ -n "$t" ] && [ "$t" -ge 20 ]; then
      pass "fanout-worker@.service: TimeoutStopSec=$t >= drain (ACK wait 10 s + work)"
    else
      fail "fanout-worker@.service: TimeoutStopSec '$t' is shorter than the drain"
    fi
  else
    fail "missing $UNITS/fanout-worker@.service"
  fi
  [ -f "$UNITS/fanout-coordinator.service" ] || fail "missing $UNITS/fanout-coordinator.service"
else
  skip "systemd units: systemd-analyze is not installed"
fi

# ---- Dockerfile -------------------------------------------------------------------------
if [ ! -f "$DOCKERFILE" ]; then
  fail "missing $DOCKERFILE"
else
  # Join continuation lines, drop comments and blanks, then look at each instruction.
  bad=$(awk '
    BEGIN { split("FROM RUN CMD LABEL MAINTAINER EXPOSE ENV ADD COPY ENTRYPOINT VOLUME USER WORKDIR ARG ONBUILD STOPSIGNAL HEALTHCHECK SHELL", k, " "); for (i in k) ok[k[i]] = 1 }
    /^[[:space:]]*#/ && !cont { next }
    {
      line = cont ? line " " $0 : $0
      if (line ~ /\\[[:space:]]*$/) { sub(/\\[[:space:]]*$/, "", line); cont = 1; next }
      cont = 0
      if (line ~ /^[[:space:]]*$/) { line = ""; next }
      split(line, w, /[[:space:]]+/); kw = (w[1] == "" ? w[2] : w[1])
      if (!(toupper(kw) in ok)) print NR ": unknown instruction " kw
      line = ""
    }
    END { if (cont) print "EOF: dangling line continuation" }
  ' "$DOCKERFILE")
  if [ -z "$bad" ]; then pass "Dockerfile: every instruction is a known keyword"; else fail "Dockerfile: $bad"; fi
  # The instructions with their continuation lines joined, comments dropped.
  joined=$(awk '/^[[:space:]]*#/ { next }
    { if (sub(/\\[[:space:]]*$/, "")) { printf "%s ", $0 } else { print } }' "$DOCKERFILE")
  expect() {  # expect REGEX WHAT: some joined instruction matches REGEX
    if grep -Eq "$1" <<<"$joined"; then pass "Dockerfile: $2"; else fail "Dockerfile: $2 missing"; fi
  }
  expect '^HEALTHCHECK[[:space:]].*--interval.*fanout.*health' "HEALTHCHECK with --interval running fanout health"
  expect '^STOPSIGNAL[[:space:]]+SIGTERM' "STOPSIGNAL SIGTERM"
  expect '^USER[[:space:]]+[^r0]' "a non-root USER"
  expect '^FROM[[:space:]]+debian:bookworm[[:space:]]+AS' "a build stage FROM debian:bookworm"
  expect '^FROM[[:space:]]+debian:bookworm-slim' "a runtime stage FROM debian:bookworm-slim"
  expect '^ENTRYPOINT[[:space:]].*tini' "tini as ENTRYPOINT"
  expect 'ctest[[:space:]]+-L[[:space:]]+unit' "ctest -L unit in the build"
  # Without it beside fanout-worker, every command is supervised by a second fanout-worker
  # (dynamic, some twenty libraries) instead of the small static shim.
  expect 'cp[[:space:]].*build/bin/fanout-task-shim[[:space:]].*/opt/fanout/bin' "fanout-task-shim staged beside fanout-worker"
  # Every file COPY'd from the build context must exist.
  missing=""
  while read -r src; do
    [ -e "$ROOT/$src" ] || missing="$missing $src"
  done < <(awk '$1 == "COPY" && $2 !~ /^--/ { for (i = 2; i < NF; i++) print $i }' <<<"$joined")
  if [ -z "$missing" ]; then pass "Dockerfile: every COPY source exists"; else fail "Dockerfile: COPY sources missing:$missing"; fi
  # Optional: the parser of the VS Code Docker extension, when it is already installed.
  if command -v node >/dev/null 2>&1 && node -e 'require("dockerfile-utils")' 2>/dev/null; then
    if out=$(node -e '
      const u = require("dockerfile-utils");
      const d = u.validate(require("fs").readFileSync(process.argv[1], "utf8"));
      const e = d.filter(x => x.severity === 1);
      e.forEach(x => console.log((x.range.start.line + 1) + ": " + x.message));
      process.exit(e.length ? 1 : 0);' "$DOCKERFILE" 2>&1); then
      pass "Dockerfile: dockerfile-utils validate()"
    else
      fail "Dockerfile: dockerfile-utils: $out"
    fi
  else
    skip "Dockerfile: dockerfile-utils (npm) is not installed; keyword check only"
  fi
fi

# ---- shell scripts ----------------------------------------------------------------------
scripts=("$ROOT/deploy/chaos/compose-chaos.sh" "${BASH_SOURCE[0]}")
for s in "${scripts[@]}"; do
  [ -f "$s" ] || { fail "missing $s"; continue; }
  bash -n "$s" || fail "bash -n $s"
done
if command -v shellcheck >/dev/null 2>&1; then
  if out=$(shellcheck "${scripts[@]}" 2>&1); then pass "shellcheck: chaos and validation scripts"; else fail "shellcheck: $out"; fi
else
  skip "shellcheck is not installed"
fi

if [ $failures -eq 0 ]; then
  echo "validate: all checks passed"
  exit 0
fi
echo "validate: $failures check(s) failed"
exit 1
