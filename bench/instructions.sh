#!/usr/bin/env bash
# bench/instructions.sh: what a server setting costs per request, in instructions, counted
# by callgrind (valgrind): deterministic, so it can be measured on a busy machine where
# wall-clock rows (bench/run.sh) cannot. Each variant serves GET /hello/<name> through the
# hello plugin on one reactor; it runs twice, with 1,000 and 5,000 keep-alive requests, and
# the difference over 4,000 is what one request costs (start-up and exit cancel out).
#
#   bench/instructions.sh                     # the variants below
#   VARIANTS='ids-off:request_id_header: off' bench/instructions.sh
#
# A variant is NAME:server keys (YAML, separated by ';'). Uses build/ci (or BUILD=...).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build/ci}
[[ -x $build/microserver ]] || { echo "build $build first (cmake --preset ci && cmake --build --preset ci)" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install valgrind" >&2; exit 1; }
variants=${VARIANTS:-"ids-off:access_log: off;request_id_header: off
ids-on:access_log: off
combined-log:access_log: /dev/null;access_log_format: combined
json-log:access_log: /dev/null;access_log_format: json"}

work=$(mktemp -d)
server=
cleanup() { [[ -n $server ]] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/www"

# The client: keep-alive requests one after the other, each answer read whole.
cat > "$work/client.py" <<'PY'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port), timeout=30)
request = b"GET /hello/Ada HTTP/1.1\r\nHost: bench\r\nUser-Agent: instructions\r\n\r\n"
buffered = b""
for _ in range(n):
    s.sendall(request)
    while True:
        end = buffered.find(b"\r\n\r\n")
        if end >= 0:
            head = buffered[:end].decode()
            length = int(next(l.split(":")[1] for l in head.split("\r\n") if l.lower().startswith("content-length")))
            if len(buffered) >= end + 4 + length:
                buffered = buffered[end + 4 + length:]
                break
        chunk = s.recv(65536)
        if not chunk: sys.exit("the server closed the connection")
        buffered += chunk
PY

# Instructions of one run of $1 requests with server keys $2.
count() {
  local n=$1 keys=$2 port
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  { printf 'server:\n  listen: 127.0.0.1:%s\n  reactors: 1\n  www: %s\n' "$port" "$work/www"
    tr ';' '\n' <<< "$keys" | sed 's/^/  /'
    printf "routes:\n  - { path: '^/hello/(?P<name>[A-Za-z]+)\$', handler: hello, config: { greeting: Hello } }\n"
  } > "$work/routes.yaml"
  valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" "$build/microserver" \
    --config "$work/routes.yaml" --plugins "$build/plugins" > "$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 200); do grep -q "listening" "$work/server.log" && break; sleep 0.1; done
  grep -q "listening" "$work/server.log" || { cat "$work/server.log" >&2; exit 1; }
  /usr/bin/python3 "$work/client.py" "$port" "$n"
  kill -TERM "$server"; wait "$server" || true; server=
  grep -o 'Collected : [0-9]*' "$work/server.log" | grep -o '[0-9]*$'
}

printf '%-14s %s\n' variant instructions/request
while IFS= read -r variant; do
  name=${variant%%:*} keys=${variant#*:}
  small=$(count 1000 "$keys") large=$(count 5000 "$keys")
  printf '%-14s %d\n' "$name" $(( (large - small) / 4000 ))
done <<< "$variants"
