# shellcheck shell=bash
# bench/lib.sh: what every benchmark row shares (sourced by bench/run.sh; never run alone).
#
#   bench_prepare        install missing Debian packages, build Release, raise ulimit -n
#   start_microserver    a private microserver from a generated routes.yaml
#   start_nginx          a private nginx from a generated nginx.conf (daemon off)
#   start_redis          a private redis-server (no persistence)
#   run_wrk              one measured wrk run: requests, req/s, p99, errors, server CPU/request
#   summarize            per-round figures and the median ratios A/B
#
# Everything lives under one mktemp folder; every process started is stopped by PID on
# EXIT; every wait is bounded. Environment:
#   ROUNDS=5         A B rounds per row          DURATION=5   seconds per wrk run
#   CONNECTIONS=50   wrk -c for per-core rows    SERVER_CPU=0 CLIENT_CPU=1 (taskset cores)
#   BENCH_NO_BUILD=1 use the binaries already in build/release (no cmake)
#   BENCH_KEEP=1     keep the temp folder (configs, logs, raw wrk output)
#   BENCH_WAIT_QUIET=SECONDS  wait up to that long for other jobs to finish first
#   BENCH_RETRIES=2  a round during which other jobs took > OTHER_MAX=5 % of the machine is
#                    measured again, after waiting up to RETRY_WAIT=120 s for quiet
#   BENCH_TLS=1      servers listen with TLS (the *tls rows set it): one self-signed P-256
#                    certificate for both, TLS 1.2/1.3, nginx with ssl_session_cache
# Each run also prints "other load": the share of the machine's CPU time that was
# neither the server nor the load generator (another job skewing the figures).

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
BUILD_DIR=$REPO_DIR/build/release
MS_BIN=$BUILD_DIR/microserver
MS_PLUGIN_DIR=$BUILD_DIR/plugins
export FANOUT_BIN=$BUILD_DIR/bench/fanout_client  # the chat row's load tool

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-50}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
CLK_TCK=$(getconf CLK_TCK)
BENCH_TLS=${BENCH_TLS:-0}
SCHEME=http
[[ $BENCH_TLS == 1 ]] && SCHEME=https

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'bench: warning: %s\n' "$*" >&2; }
die() {
  printf 'bench: %s\n' "$*" >&2
  exit 1
}

# ---------------------------------------------------------------------------------------
# Temp folder and cleanup: every PID we start goes into BENCH_PIDS; the EXIT trap stops
# them (TERM, then KILL after 5 s) and removes the folder.
BENCH_TMP=$(mktemp -d /tmp/microserver-bench.XXXXXX)
chmod 755 "$BENCH_TMP"  # nginx workers run as nobody when started by root: they read www/
BENCH_PIDS=()
declare -A PID_LOG=()  # server PID -> the file holding its stderr (for post-mortems)
RESULTS=$BENCH_TMP/results  # one line per measured run: row round label key=value...
: >"$RESULTS"

bench_cleanup() {
  local pid deadline
  for pid in "${BENCH_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  deadline=$((SECONDS + 5))
  for pid in "${BENCH_PIDS[@]}"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  BENCH_PIDS=()
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then
    log "kept $BENCH_TMP"
  else
    rm -rf "$BENCH_TMP"
  fi
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# Stops one process we started (by PID) and forgets it.
stop_pid() {
  local pid=$1 deadline=$((SECONDS + 5)) p keep=()
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${BENCH_PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
  BENCH_PIDS=("${keep[@]+"${keep[@]}"}")
}

# Says why a load run failed when the cause is the server: it is gone (how it ended, and
# the end of its log), or it still runs.
server_post_mortem() {
  local pid=$1 label=$2 status
  if kill -0 "$pid" 2>/dev/null; then
    warn "$label (pid $pid) is still running"
    return 0
  fi
  status=0
  wait "$pid" 2>/dev/null || status=$?
  if ((status > 128)); then
    warn "$label (pid $pid) DIED: killed by signal $((status - 128)) ($(kill -l $((status - 128)) 2>/dev/null || echo ?))"
  else
    warn "$label (pid $pid) EXITED with status $status"
  fi
  if [[ -n ${PID_LOG[$pid]:-} ]]; then
    warn "the end of its log (${PID_LOG[$pid]}):"
    tail -20 "${PID_LOG[$pid]}" >&2 || true
  fi
  BENCH_KEEP=1  # keep the configs and logs for a look
}

# ---------------------------------------------------------------------------------------
# Packages and build.

# Installs the packages of the given lists (one per line, # comments) that are missing,
# with apt-get, through sudo when not root. A no-op when all are there.
install_packages() {
  local list pkg wanted=() missing=() sudo=()
  for list in "$@"; do
    while read -r pkg _; do
      [[ -z $pkg || $pkg == \#* ]] || wanted+=("$pkg")
    done <"$list"
  done
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || die "need root or sudo to install: ${missing[*]}"
    sudo=(sudo)
  fi
  log "installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build_release() {
  if [[ ${BENCH_NO_BUILD:-0} == 1 ]]; then
    log "BENCH_NO_BUILD=1: using the binaries in $BUILD_DIR as they are"
  else
    log "building Release (cmake --preset release && cmake --build --preset release)"
    (cd "$REPO_DIR" && cmake --preset release >/dev/null && cmake --build --preset release -j "$(nproc)" >"$BENCH_TMP/build.log" 2>&1) ||
      {
        tail -30 "$BENCH_TMP/build.log" >&2
        die "the Release build failed (log above); fix it, or run with BENCH_NO_BUILD=1 to use the binaries already built"
      }
  fi
  [[ -x $MS_BIN ]] || die "$MS_BIN is missing: build it (cmake --preset release && cmake --build --preset release)"
  [[ -f $MS_PLUGIN_DIR/libhello.so ]] || die "$MS_PLUGIN_DIR/libhello.so is missing"
}

# Raises the open-file soft limit to the hard limit (the idle row needs > 10,000).
raise_nofile() {
  local hard
  hard=$(ulimit -Hn)
  ulimit -n "$hard" 2>/dev/null || true
}

# Prints the machine and its load; warns when something else keeps the cores busy (the
# figures are then worth little: rerun when the machine is quiet).
report_machine() {
  log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), kernel $(uname -r)"
  log "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  wait_quiet
}

# The machine's busy share (%) over 2 s, all CPUs.
busy_percent() {
  local m0 m1
  m0=$(machine_ticks)
  sleep 2
  m1=$(machine_ticks)
  other_load "$m0" "$m1" 0 0
}

# With BENCH_WAIT_QUIET=SECONDS, waits (at most that long) until the machine is idle
# (< 5% busy over 2 s) before the row starts; either way says how busy it was.
wait_quiet() {
  local limit=${BENCH_WAIT_QUIET:-0} deadline busy
  deadline=$((SECONDS + limit))
  busy=$(busy_percent)
  while awk -v b="$busy" 'BEGIN { exit !(b >= 5) }' && ((SECONDS < deadline)); do
    log "the machine is ${busy}% busy: waiting for it to be quiet (BENCH_WAIT_QUIET=$limit)"
    sleep 10
    busy=$(busy_percent)
  done
  log "machine busy before the row: ${busy}% of all cores"
  awk -v b="$busy" 'BEGIN { exit !(b >= 5) }' && warn "another job is using ${busy}% of the cores: the figures will be noisy (rerun when it is done)"
  return 0
}

bench_prepare() {
  install_packages "$REPO_DIR/scripts/packages-build.txt" "$BENCH_DIR/packages.txt"
  local tool
  for tool in wrk nginx redis-server ab taskset python3 curl; do
    command -v "$tool" >/dev/null || die "$tool is missing (see bench/packages.txt)"
  done
  build_release
  raise_nofile
  report_machine
}

# ---------------------------------------------------------------------------------------
# Ports, readiness, processes.

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Ports handed out in this run, in a file: port() runs in a $(...) subshell, where a
# shell variable would not outlive the call.
USED_PORTS=$BENCH_TMP/used-ports
: >"$USED_PORTS"
port() {  # a free port not handed out before in this run
  local p
  while :; do
    p=$(free_port)
    grep -qx "$p" "$USED_PORTS" || break
  done
  echo "$p" >>"$USED_PORTS"
  echo "$p"
}

# Waits (at most 10 s) until 127.0.0.1:PORT accepts a connection; fails if PID died.
wait_port() {
  local port=$1 pid=$2 what=$3 deadline=$((SECONDS + 10))
  while ((SECONDS < deadline)); do
    kill -0 "$pid" 2>/dev/null || return 1
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  warn "$what did not open port $port within 10 s"
  return 1
}

# The files bench rows serve: 1 KiB and 100 KiB of random bytes, in one folder that both
# servers serve.
make_www() {
  WWW_DIR=$BENCH_TMP/www
  mkdir -p "$WWW_DIR"
  head -c 1024 /dev/urandom >"$WWW_DIR/1k.bin"
  head -c 102400 /dev/urandom >"$WWW_DIR/100k.bin"
  printf '<!doctype html><title>bench</title><p>bench\n' >"$WWW_DIR/index.html"
  printf '<!doctype html><title>404</title><p>not found\n' >"$WWW_DIR/404.html"
  # 20 KiB of the site's own CSS, and its gzip beside it (built ahead, as for gzip_static).
  while [[ ! -f $WWW_DIR/site.css || $(stat -c %s "$WWW_DIR/site.css") -lt 20480 ]]; do
    cat "$REPO_DIR/www/style.css" "$REPO_DIR/www/chat.css" >>"$WWW_DIR/site.css"
  done
  truncate -s 20480 "$WWW_DIR/site.css"
  gzip -9 -k -n "$WWW_DIR/site.css"
  chmod -R a+rX "$WWW_DIR"
}

# The certificate both servers present when BENCH_TLS=1 (made once per run).
make_certificate() {
  TLS_CERT=$BENCH_TMP/tls/localhost.crt
  TLS_KEY=$BENCH_TMP/tls/localhost.key
  [[ -f $TLS_CERT ]] && return 0
  mkdir -p "$BENCH_TMP/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$TLS_KEY" -out "$TLS_CERT" 2>/dev/null ||
    die "openssl could not make a certificate"
}

# A private plugin folder with copies of the libraries a row needs (so a rebuild or a
# half-written plugin elsewhere in the tree never changes a running benchmark).
make_plugin_dir() {
  local dir=$BENCH_TMP/plugins lib
  mkdir -p "$dir"
  for lib in "$@"; do
    [[ -f $MS_PLUGIN_DIR/lib$lib.so ]] || die "$MS_PLUGIN_DIR/lib$lib.so is missing"
    cp "$MS_PLUGIN_DIR/lib$lib.so" "$dir/"
  done
  PLUGIN_DIR=$dir
}

# microserver_config FILE PORT REACTORS ROUTES [SERVICES_YAML]
# ROUTES: the number of routes before the catch-all static one; ROUTES-1 filler routes
# `^/r<i>/x$` come first and the hello route last (the worst case for a router that
# tries routes one by one).
microserver_config() {
  local file=$1 port=$2 reactors=$3 routes=$4 services=${5:-} i
  {
    printf 'server:\n'
    if [[ $BENCH_TLS == 1 ]]; then
      make_certificate
      printf '  listen: [{ address: 127.0.0.1:%s, tls: { certificate: %s, key: %s } }]\n' "$port" "$TLS_CERT" "$TLS_KEY"
    else
      printf '  listen: 127.0.0.1:%s\n' "$port"
    fi
    printf '  reactors: %s\n' "$reactors"
    printf '  www: %s\n' "$WWW_DIR"
    printf '  plugins: %s\n' "$PLUGIN_DIR"
    printf '  access_log: "off"\n'
    printf '  log_level: warning\n'
    printf '  limits: { max_connections: 12000, idle_timeout: 120s, header_timeout: 120s }\n'
    printf 'routes:\n'
    for ((i = 0; i < routes - 1; i++)); do
      printf "  - { path: '^/r%d/x\$', methods: [GET], handler: hello }\n" "$i"
    done
    printf "  - { path: '^/hello/(?P<name>[A-Za-z]+)\$', methods: [GET], handler: hello, config: { greeting: Hello } }\n"
    printf "  - { path: '^/', static: %s }\n" "$WWW_DIR"
    if [[ -n $services ]]; then
      printf 'services:\n%s\n' "$services"
    fi
  } >"$file"
}

# start_microserver NAME CONFIG PORT PIN: PIN is a taskset CPU list, or "" for none.
# Sets LAST_PID. The server prints its ready line once it listens.
start_microserver() {
  local name=$1 config=$2 port=$3 pin=$4 dir=$BENCH_TMP/$1 pinning=()
  mkdir -p "$dir"
  [[ -n $pin ]] && pinning=(taskset -c "$pin")
  "${pinning[@]}" "$MS_BIN" --config "$config" >"$dir/stdout" 2>"$dir/stderr" &
  LAST_PID=$!
  BENCH_PIDS+=("$LAST_PID")
  PID_LOG[$LAST_PID]=$dir/stderr
  local deadline=$((SECONDS + 10))
  while ! grep -q '^microserver listening on' "$dir/stdout" 2>/dev/null; do
    if ! kill -0 "$LAST_PID" 2>/dev/null || ((SECONDS >= deadline)); then
      cat "$dir/stdout" "$dir/stderr" >&2
      die "microserver ($name) did not start (its output is above; config $config)"
    fi
    sleep 0.05
  done
  wait_port "$port" "$LAST_PID" "microserver ($name)" || die "microserver ($name) is not listening on $port"
}

# start_nginx NAME PORT WORKERS PIN: WORKERS is a number or auto. Sets LAST_PID (master).
start_nginx() {
  local name=$1 port=$2 workers=$3 pin=$4 prefix=$BENCH_TMP/$1 pinning=() nofile
  mkdir -p "$prefix/logs" "$prefix/tmp"
  nofile=$(ulimit -n)
  local ssl="" tls_conf=""
  if [[ $BENCH_TLS == 1 ]]; then
    make_certificate
    # http2: ALPN offers h2, as our TLS listeners do (wrk speaks HTTP/1.1 either way).
    ssl=" ssl http2"
    # As production runs it: a shared session cache, TLS 1.2 and 1.3.
    tls_conf="ssl_certificate $TLS_CERT; ssl_certificate_key $TLS_KEY; ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m; ssl_session_timeout 1h;"
  fi
  cat >"$prefix/nginx.conf" <<EOF
# generated by bench/lib.sh
daemon off;
master_process on;
worker_processes $workers;
worker_rlimit_nofile $nofile;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log warn;
events {
  worker_connections 16384;
}
http {
  # nginx as production runs it (the project's anchor: see bench/README.md).
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  open_file_cache max=1000 inactive=60s;
  # microserver never ends a keep-alive connection after N requests; nginx's default
  # (1000) would make wrk reconnect and cost nginx a handshake per 1000 requests.
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  default_type application/octet-stream;
  types { text/html html; text/plain txt; text/css css; application/octet-stream bin; }
  client_body_temp_path $prefix/tmp/body;
  proxy_temp_path $prefix/tmp/proxy;
  fastcgi_temp_path $prefix/tmp/fastcgi;
  uwsgi_temp_path $prefix/tmp/uwsgi;
  scgi_temp_path $prefix/tmp/scgi;
  server {
    listen 127.0.0.1:$port$ssl backlog=4096;
    server_name bench;
    $tls_conf
    root $WWW_DIR;
    location = /hello {
      default_type text/plain;
      return 200 "hello\n";
    }
    # Precompressed siblings (file.gz) for clients that accept gzip, with Vary as we send
    # it; only where a .gz exists: elsewhere gzip_static would cost a failed openat per
    # request (strace -c shows one for every 1k.bin answer when it is on for the server).
    location ~ \.css$ {
      gzip_static on;
      gzip_vary on;
    }
  }
}
EOF
  [[ -n $pin ]] && pinning=(taskset -c "$pin")
  "${pinning[@]}" nginx -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" \
    >"$prefix/stdout" 2>"$prefix/stderr" &
  LAST_PID=$!
  BENCH_PIDS+=("$LAST_PID")
  PID_LOG[$LAST_PID]=$prefix/logs/error.log
  wait_port "$port" "$LAST_PID" "nginx ($name)" || {
    cat "$prefix/stderr" "$prefix/logs/error.log" >&2 2>/dev/null || true
    die "nginx ($name) did not start (config $prefix/nginx.conf)"
  }
}

# start_redis NAME PORT PIN. Sets LAST_PID.
start_redis() {
  local name=$1 port=$2 pin=$3 dir=$BENCH_TMP/$1 pinning=()
  mkdir -p "$dir"
  [[ -n $pin ]] && pinning=(taskset -c "$pin")
  (cd "$dir" && exec "${pinning[@]}" redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize no --maxclients 20000 --dir "$dir" >"$dir/stdout" 2>&1) &
  LAST_PID=$!
  BENCH_PIDS+=("$LAST_PID")
  PID_LOG[$LAST_PID]=$dir/stdout
  wait_port "$port" "$LAST_PID" "redis ($name)" || {
    cat "$dir/stdout" >&2
    die "redis-server ($name) did not start"
  }
}

# ---------------------------------------------------------------------------------------
# Measuring.

# utime+stime (clock ticks) of PID and its children (nginx: master + workers).
cpu_ticks() {
  local pid=$1 total=0 p stat fields
  for p in "$pid" $(pgrep -P "$pid" 2>/dev/null || true); do
    stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    stat=${stat##*) }  # drop "pid (comm) ": comm may hold spaces
    read -r -a fields <<<"$stat"
    total=$((total + fields[11] + fields[12]))  # fields 14 and 15 of stat(5)
  done
  echo "$total"
}

# VmRSS in KiB of PID and its children.
rss_kib() {
  local pid=$1 total=0 p v
  for p in "$pid" $(pgrep -P "$pid" 2>/dev/null || true); do
    v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || true)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# A latency from wrk ("812.00us", "1.20ms", "2.00s") in microseconds.
to_us() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") f = 1; else if (u == "ms") f = 1000; else if (u == "s") f = 1000000; else if (u == "m") f = 60000000; else f = 1
    printf "%.0f", n * f }'
}

# Machine-wide "busy total" clock ticks, all CPUs (/proc/stat).
machine_ticks() {
  awk '/^cpu / { busy = $2 + $3 + $4 + $7 + $8 + $9; print busy, busy + $5 + $6 }' /proc/stat
}

# CHILD_TICKS = clock ticks used so far by this shell's finished children (wrk, the load
# tools). Call it as a plain command: in a $(...) subshell `times` sees no children.
children_ticks() {
  times >"$BENCH_TMP/times"
  CHILD_TICKS=$(awk -v hz="$CLK_TCK" 'NR == 2 {
      t = 0
      for (i = 1; i <= 2; i++) { split($i, p, "m"); sub("s", "", p[2]); t += p[1] * 60 + p[2] }
      printf "%.0f", t * hz }' "$BENCH_TMP/times")
}

# other_load M0 M1 SERVER_TICKS CLIENT_TICKS: the share (%) of the whole machine's CPU
# time during a run that was neither the server nor the load generator: other jobs
# (another engineer's build or tests) that skew the figures. A few % is the kernel's
# own background work.
other_load() {
  awk -v b0="${1% *}" -v t0="${1#* }" -v b1="${2% *}" -v t1="${2#* }" -v s="$3" -v c="$4" 'BEGIN {
    total = t1 - t0; other = (b1 - b0) - s - c; if (other < 0) other = 0
    printf "%.1f", (total > 0 ? other * 100 / total : 0) }'
}

# contaminated PERCENT...: true when another job took more than OTHER_MAX % (5) of the
# machine during a run.
OTHER_MAX=${OTHER_MAX:-5}
contaminated() {
  local o
  for o in "$@"; do awk -v o="$o" -v m="$OTHER_MAX" 'BEGIN { exit !(o > m) }' && return 0; done
  return 1
}

# retry_round ROW ROUND ATTEMPT OTHER_A OTHER_B: decides whether a round measured while
# another job was busy is done again (at most BENCH_RETRIES=2 times, after waiting up
# to RETRY_WAIT=120 s for the machine to be quiet). If so, drops the round's figures
# and returns 0.
BENCH_RETRIES=${BENCH_RETRIES:-2}
retry_round() {
  local row=$1 round=$2 attempt=$3
  shift 3
  contaminated "$@" || return 1
  ((attempt < BENCH_RETRIES)) || {
    warn "$row round $round: kept although another job was busy (other load $*%)"
    return 1
  }
  awk -v row="$row" -v round="$round" '!($1 == row && $2 == round)' "$RESULTS" >"$RESULTS.tmp"
  mv "$RESULTS.tmp" "$RESULTS"
  printf '  round %s measured again: another job was busy (other load %s%%)\n' "$round" "$*"
  BENCH_WAIT_QUIET=${RETRY_WAIT:-120} wait_quiet 2>/dev/null
  return 0
}

# measure_start PID / measure_end PID: around one measured run of a load tool. measure_end
# sets SERVER_TICKS (the server's CPU ticks meanwhile), LAST_OTHER (the other jobs' share of
# the machine, %; read by bench/run.sh to retry a disturbed round) and OTHER_MARK (a note
# for the printed line when that share is too high).
measure_start() {
  children_ticks
  MEASURE_C0=$CHILD_TICKS
  MEASURE_M0=$(machine_ticks)
  MEASURE_T0=$(cpu_ticks "$1")
}
measure_end() {
  local t1 m1
  t1=$(cpu_ticks "$1")
  m1=$(machine_ticks)
  children_ticks
  SERVER_TICKS=$((t1 - MEASURE_T0))
  # shellcheck disable=SC2034  # read by bench/run.sh to retry a disturbed round
  LAST_OTHER=$(other_load "$MEASURE_M0" "$m1" "$SERVER_TICKS" $((CHILD_TICKS - MEASURE_C0)))
  OTHER_MARK=""
  contaminated "$LAST_OTHER" && OTHER_MARK="  <- other load ${LAST_OTHER}%"
  return 0
}
# Server CPU per request in µs, from SERVER_TICKS and a request count.
cpu_per_request() {
  awk -v t="$SERVER_TICKS" -v hz="$CLK_TCK" -v n="$1" 'BEGIN { printf "%.3f", n ? t * 1e6 / hz / n : 0 }'
}

# run_wrk ROW ROUND LABEL PID URL PIN THREADS CONNS [wrk args...]
# One measured wrk run; appends its figures to $RESULTS and prints them.
run_wrk() {
  local row=$1 round=$2 label=$3 pid=$4 url=$5 pin=$6 threads=$7 conns=$8
  shift 8
  local out=$BENCH_TMP/wrk-$row-$round-$label.txt pinning=()
  [[ -n $pin ]] && pinning=(taskset -c "$pin")
  measure_start "$pid"
  timeout $((DURATION + 30)) "${pinning[@]}" wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency "$@" "$url" >"$out" 2>&1 ||
    {
      cat "$out" >&2
      server_post_mortem "$pid" "$label"
      die "wrk failed against $label ($url)"
    }
  kill -0 "$pid" 2>/dev/null || {
    server_post_mortem "$pid" "$label"
    die "$label died during a run (wrk's output: $out)"
  }
  measure_end "$pid"
  local other=$LAST_OTHER mark=$OTHER_MARK
  local requests rps p99 sockerr non2xx
  requests=$(awk '/ requests in / { print $1 }' "$out")
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
  p99=$(to_us "$(awk '$1 == "99%" { print $2 }' "$out")")
  sockerr=$(awk '/Socket errors:/ { gsub(",", ""); print $4 + $6 + $8 + $10 }' "$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
  [[ -n $requests && -n $rps ]] || {
    cat "$out" >&2
    die "could not read wrk's output"
  }
  local errors=$((${sockerr:-0} + ${non2xx:-0}))
  local cpu_us
  cpu_us=$(cpu_per_request "$requests")
  echo "$row $round $label requests=$requests rps=$rps cpu_us=$cpu_us p99_us=$p99 errors=$errors other_load=$other" >>"$RESULTS"
  printf '  round %-2s %-12s %9s requests %10s req/s %7s µs CPU/req  p99 %6s µs  errors %s  other load %s%%%s\n' \
    "$round" "$label" "$requests" "$rps" "$cpu_us" "$p99" "$errors" "$other" "$mark"
}

# run_h2load ROW ROUND LABEL PID URL PIN CONNS STREAMS: one measured h2load run (HTTP/2,
# STREAMS requests in flight per connection), recorded like run_wrk's. h2load reports no
# percentiles: mean_us is the mean time per request.
run_h2load() {
  local row=$1 round=$2 label=$3 pid=$4 url=$5 pin=$6 conns=$7 streams=$8
  local out=$BENCH_TMP/h2load-$row-$round-$label.txt pinning=()
  [[ -n $pin ]] && pinning=(taskset -c "$pin")
  measure_start "$pid"
  timeout $((DURATION + 30)) "${pinning[@]}" h2load -t1 -c"$conns" -m"$streams" -D"$DURATION" "$url" >"$out" 2>&1 ||
    {
      cat "$out" >&2
      server_post_mortem "$pid" "$label"
      die "h2load failed against $label ($url)"
    }
  measure_end "$pid"
  local other=$LAST_OTHER mark=$OTHER_MARK
  # "requests: 100 total, 100 started, 100 done, 98 succeeded, 2 failed, 0 errored, 0 timeout"
  local requests rps mean errors
  requests=$(awk '/^requests:/ { print $8 }' "$out")
  errors=$(awk '/^requests:/ { print $10 + $12 + $14 }' "$out")
  rps=$(awk '/^finished in/ { print $4 }' "$out")
  mean=$(to_us "$(awk '/^time for request:/ { print $6 }' "$out")")
  [[ -n $requests && -n $rps && $requests -gt 0 ]] || {
    cat "$out" >&2
    die "could not read h2load's output"
  }
  local cpu_us
  cpu_us=$(cpu_per_request "$requests")
  echo "$row $round $label requests=$requests rps=$rps cpu_us=$cpu_us mean_us=$mean errors=$errors other_load=$other" >>"$RESULTS"
  printf '  round %-2s %-12s %9s requests %10s req/s %7s µs CPU/req  mean %6s µs  errors %s  other load %s%%%s\n' \
    "$round" "$label" "$requests" "$rps" "$cpu_us" "$mean" "$errors" "$other" "$mark"
}

# A short unmeasured run, so both servers start the rounds warm.
warm_up() {
  local url=$1 pin=$2 threads=$3 conns=$4 pinning=()
  shift 4
  [[ -n $pin ]] && pinning=(taskset -c "$pin")
  timeout 30 "${pinning[@]}" wrk -t"$threads" -c"$conns" -d1s "$@" "$url" >/dev/null 2>&1 || die "warm-up against $url failed"
}

# Checks that URL answers 200 (with curl), so a row never measures a stream of 404s.
check_200() {
  local url=$1 code
  code=$(curl -s -k -o /dev/null -w '%{http_code}' --max-time 5 "$url" || true)
  [[ $code == 200 ]] || die "$url answered $code, not 200"
}

# check_gzip URL: the answer to a client accepting gzip is gzip (a row comparing compressed
# answers must not compare one server's .gz with the other's identity).
check_gzip() {
  local url=$1
  curl -s -o /dev/null -D - -H 'Accept-Encoding: gzip' --max-time 5 "$url" | grep -qi '^content-encoding: gzip' ||
    die "$url does not answer gzip to Accept-Encoding: gzip"
}

# median: the median of the numbers on stdin.
median() {
  sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# value ROW ROUND LABEL KEY: one figure from $RESULTS.
value() {
  awk -v row="$1" -v round="$2" -v label="$3" -v key="$4" '
    $1 == row && $2 == round && $3 == label { for (i = 4; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) print kv[2] } }' "$RESULTS"
}

# summarize ROW A B "KEY:name ..." : per-round ratios A/B and their medians for each KEY,
# the medians of A's and B's own figures, and the sum of errors (KEY errors, if present,
# is summed rather than divided).
summarize() {
  local row=$1 a=$2 b=$3 keys=$4 key name r va vb line
  printf '\n%s: median over %s rounds (%s / %s)\n' "$row" "$ROUNDS" "$a" "$b"
  for pair in $keys; do
    key=${pair%%:*}
    name=${pair#*:}
    if [[ $key == errors || $key == lost* || $key == out_of_order ]]; then
      local sa=0 sb=0
      for ((r = 1; r <= ROUNDS; r++)); do
        va=$(value "$row" "$r" "$a" "$key")
        vb=$(value "$row" "$r" "$b" "$key")
        sa=$((sa + ${va:-0}))
        sb=$((sb + ${vb:-0}))
      done
      printf '  %-28s %s: %s   %s: %s   (total over all rounds)\n' "$name" "$a" "$sa" "$b" "$sb"
      echo "$row SUMMARY $key $a=$sa $b=$sb" >>"$RESULTS"
      continue
    fi
    local ratios=() as=() bs=()
    for ((r = 1; r <= ROUNDS; r++)); do
      va=$(value "$row" "$r" "$a" "$key")
      vb=$(value "$row" "$r" "$b" "$key")
      [[ -n $va && -n $vb ]] || continue
      as+=("$va")
      bs+=("$vb")
      ratios+=("$(awk -v x="$va" -v y="$vb" 'BEGIN { if (y + 0 == 0) print "nan"; else printf "%.3f", x / y }')")
    done
    local ma mb mr
    ma=$(printf '%s\n' "${as[@]}" | median)
    mb=$(printf '%s\n' "${bs[@]}" | median)
    mr=$(printf '%s\n' "${ratios[@]}" | median)
    line=$(printf '  %-28s ratio %6.3fx   (%s %s, %s %s; per round: %s)' "$name" "$mr" "$a" "$ma" "$b" "$mb" "${ratios[*]}")
    echo "$line"
    echo "$row SUMMARY $key ratio=$mr $a=$ma $b=$mb" >>"$RESULTS"
  done
}
