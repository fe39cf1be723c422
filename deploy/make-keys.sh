#!/bin/sh
# The compose `keys` service (docker-compose.yml): makes what is missing, keeps what exists.
#   /keys/coordinator  server.key/.pub, clients/, workers/, redis.pass   (fanout:fanout, 0700)
#   /keys/worker       worker.key/.pub, server.pub                       (fanout:fanout, 0700)
#   /keys/client       client.key/.pub, server.pub                       (fanout:fanout, 0700)
#   /keys/redis        redis.conf with requirepass                       (redis 999, 0600)
# Every worker of the compose project shares one worker key; workers on other machines get
# keys of their own (docs/security.md).
set -eu
umask 077
K=/keys
fanout keygen --coordinator-dir "$K/coordinator" --if-missing >/dev/null
fanout keygen worker --dir "$K/worker" --allow "$K/coordinator/workers" --if-missing >/dev/null
fanout keygen client --dir "$K/client" --allow "$K/coordinator/clients" --if-missing >/dev/null
cp "$K/coordinator/server.pub" "$K/worker/server.pub"
cp "$K/coordinator/server.pub" "$K/client/server.pub"
if [ ! -s "$K/coordinator/redis.pass" ]; then
  od -An -N32 -tx1 /dev/urandom | tr -d ' \n' > "$K/coordinator/redis.pass"
fi
printf 'requirepass %s\n' "$(cat "$K/coordinator/redis.pass")" > "$K/redis/redis.conf"
chown -R 10001:10001 "$K/coordinator" "$K/worker" "$K/client"
chown -R 999:999 "$K/redis"
chmod 700 "$K/coordinator" "$K/worker" "$K/client" "$K/redis"
chmod 600 "$K/coordinator/redis.pass" "$K/redis/redis.conf"
echo "keys ready"
