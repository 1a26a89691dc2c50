#!/usr/bin/env bash
# bench/run.sh: one row of the performance table (issue 5) per command, microserver side by
# side with nginx (or Redis, or itself) in the same run, as a ratio.
#
#   bench/run.sh hello        GET /hello/<name> via the router to the hello plugin vs nginx `return 200`
#   bench/run.sh static1k     a 1 KiB file vs nginx (sendfile on)
#   bench/run.sh static100k   a 100 KiB file vs nginx (sendfile on)
#   bench/run.sh css20k       a 20 KiB CSS file to a client accepting gzip, vs nginx gzip_static
#                             (both send the site.css.gz beside it)
#   bench/run.sh close        keep-alive off (wrk -H 'Connection: close'), hello vs nginx return 200
#   bench/run.sh routes       microserver with 1,000 routes vs with 10 (the match is the last route)
#   bench/run.sh allcores     reactors: auto vs worker_processes auto, nothing pinned, wrk -t2 -c100
#   bench/run.sh idle         RSS per idle keep-alive connection (10,000 of them) vs nginx
#   bench/run.sh hellotls     hello over HTTPS (keep-alive, TLS 1.3) vs nginx `listen ... ssl`
#   bench/run.sh idletls      RSS per idle HTTPS keep-alive connection vs nginx with ssl
#   bench/run.sh h2hello      hello over HTTP/2 on TLS (h2load -m 10) vs nginx `listen ... ssl http2`
#   bench/run.sh h2static1k   a 1 KiB file over HTTP/2 on TLS (h2load -m 10) vs nginx
#   bench/run.sh chat         chat fan-out to 10/100/1000/10000 TCP members vs Redis pub/sub
#   bench/run.sh chatfleet    one chat room across instances via Redis (local1, redis1, redis2)
#   bench/run.sh all          every row above, one after the other
#
# Per-core rows pin each server to core $SERVER_CPU (0) and the load generator to core
# $CLIENT_CPU (1), and alternate A B A B for $ROUNDS rounds (5), printing each round and
# the median ratios. See bench/lib.sh for the other knobs and bench/README.md for results.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

# ab_rows ROW LABEL_A PID_A URL_A LABEL_B PID_B URL_B PIN THREADS CONNS [wrk args...]
# Warms both up, then ROUNDS x (A, B), each a measured wrk run.
ab_rows() {
  local row=$1 la=$2 pa=$3 ua=$4 lb=$5 pb=$6 ub=$7 pin=$8 threads=$9 conns=${10}
  shift 10
  check_200 "$ua"
  check_200 "$ub"
  local pin_text="taskset -c $pin "
  [[ -n $pin ]] || pin_text=""
  printf '%s: %swrk -t%s -c%s -d%ss --latency %sURL   (A = %s %s, B = %s %s)\n' "$row" "$pin_text" "$threads" "$conns" \
    "$DURATION" "${*@Q}${*:+ }" "$la" "$ua" "$lb" "$ub"
  warm_up "$ua" "$pin" "$threads" "$conns" "$@"
  warm_up "$ub" "$pin" "$threads" "$conns" "$@"
  local r attempt oa
  for ((r = 1; r <= ROUNDS; r++)); do
    attempt=0
    while :; do
      run_wrk "$row" "$r" "$la" "$pa" "$ua" "$pin" "$threads" "$conns" "$@"
      oa=$LAST_OTHER
      run_wrk "$row" "$r" "$lb" "$pb" "$ub" "$pin" "$threads" "$conns" "$@"
      retry_round "$row" "$r" $((attempt++)) "$oa" "$LAST_OTHER" || break
    done
  done
}

HTTP_KEYS="rps:req/s cpu_us:server_CPU_per_request p99_us:p99_latency errors:errors"

# Both servers, pinned (or not), serving the same www folder.
start_pair() {
  local reactors=$1 workers=$2 pin=$3
  make_www
  make_plugin_dir hello
  MS_PORT=$(port)
  NX_PORT=$(port)
  microserver_config "$BENCH_TMP/microserver.yaml" "$MS_PORT" "$reactors" 1
  start_microserver microserver "$BENCH_TMP/microserver.yaml" "$MS_PORT" "$pin"
  MS_PID=$LAST_PID
  start_nginx nginx "$NX_PORT" "$workers" "$pin"
  NX_PID=$LAST_PID
}

row_hello() {
  start_pair 1 1 "$SERVER_CPU"
  ab_rows hello microserver "$MS_PID" "http://127.0.0.1:$MS_PORT/hello/bench" nginx "$NX_PID" \
    "http://127.0.0.1:$NX_PORT/hello" "$CLIENT_CPU" 1 "$CONNECTIONS"
  summarize hello microserver nginx "$HTTP_KEYS"
}

# hellotls: hello over TLS (BENCH_TLS=1: both servers listen with the same certificate).
row_hellotls() {
  start_pair 1 1 "$SERVER_CPU"
  ab_rows hellotls microserver "$MS_PID" "https://127.0.0.1:$MS_PORT/hello/bench" nginx "$NX_PID" \
    "https://127.0.0.1:$NX_PORT/hello" "$CLIENT_CPU" 1 "$CONNECTIONS"
  summarize hellotls microserver nginx "$HTTP_KEYS"
}

# h2_rows ROW URL_PATH_A URL_PATH_B: both servers over TLS, HTTP/2 by ALPN, h2load with
# H2_STREAMS (10) requests in flight on each of CONNECTIONS connections.
h2_rows() {
  local row=$1 path_a=$2 path_b=$3 streams=${H2_STREAMS:-10}
  start_pair 1 1 "$SERVER_CPU"
  local ua="https://127.0.0.1:$MS_PORT$path_a" ub="https://127.0.0.1:$NX_PORT$path_b"
  check_200 "$ua"
  check_200 "$ub"
  printf '%s: taskset -c %s h2load -t1 -c%s -m%s -D%s URL   (A = microserver %s, B = nginx %s)\n' "$row" "$CLIENT_CPU" \
    "$CONNECTIONS" "$streams" "$DURATION" "$ua" "$ub"
  local url
  for url in "$ua" "$ub"; do
    timeout 30 taskset -c "$CLIENT_CPU" h2load -t1 -c"$CONNECTIONS" -m"$streams" -D1 "$url" >/dev/null 2>&1 ||
      die "warm-up against $url failed"
  done
  local r attempt oa
  for ((r = 1; r <= ROUNDS; r++)); do
    attempt=0
    while :; do
      run_h2load "$row" "$r" microserver "$MS_PID" "$ua" "$CLIENT_CPU" "$CONNECTIONS" "$streams"
      oa=$LAST_OTHER
      run_h2load "$row" "$r" nginx "$NX_PID" "$ub" "$CLIENT_CPU" "$CONNECTIONS" "$streams"
      retry_round "$row" "$r" $((attempt++)) "$oa" "$LAST_OTHER" || break
    done
  done
  summarize "$row" microserver nginx "rps:req/s cpu_us:server_CPU_per_request mean_us:mean_time_per_request errors:errors"
}

# row_static ROW FILE [wrk args...]
row_static() {
  local row=$1 file=$2
  shift 2
  start_pair 1 1 "$SERVER_CPU"
  if [[ -n ${CHECK:-} ]]; then
    "$CHECK" "http://127.0.0.1:$MS_PORT/$file"
    "$CHECK" "http://127.0.0.1:$NX_PORT/$file"
  fi
  ab_rows "$row" microserver "$MS_PID" "http://127.0.0.1:$MS_PORT/$file" nginx "$NX_PID" \
    "http://127.0.0.1:$NX_PORT/$file" "$CLIENT_CPU" 1 "$CONNECTIONS" "$@"
  summarize "$row" microserver nginx "$HTTP_KEYS"
}

row_close() {
  start_pair 1 1 "$SERVER_CPU"
  ab_rows close microserver "$MS_PID" "http://127.0.0.1:$MS_PORT/hello/bench" nginx "$NX_PID" \
    "http://127.0.0.1:$NX_PORT/hello" "$CLIENT_CPU" 1 "$CONNECTIONS" -H 'Connection: close'
  summarize close microserver nginx "$HTTP_KEYS"
}

row_routes() {
  make_www
  make_plugin_dir hello
  local p1000 p10 pid1000 pid10
  p1000=$(port)
  p10=$(port)
  microserver_config "$BENCH_TMP/routes1000.yaml" "$p1000" 1 1000
  microserver_config "$BENCH_TMP/routes10.yaml" "$p10" 1 10
  start_microserver routes1000 "$BENCH_TMP/routes1000.yaml" "$p1000" "$SERVER_CPU"
  pid1000=$LAST_PID
  start_microserver routes10 "$BENCH_TMP/routes10.yaml" "$p10" "$SERVER_CPU"
  pid10=$LAST_PID
  ab_rows routes 1000routes "$pid1000" "http://127.0.0.1:$p1000/hello/bench" 10routes "$pid10" \
    "http://127.0.0.1:$p10/hello/bench" "$CLIENT_CPU" 1 "$CONNECTIONS"
  summarize routes 1000routes 10routes "$HTTP_KEYS"
}

row_allcores() {
  start_pair auto auto ""
  ab_rows allcores microserver "$MS_PID" "http://127.0.0.1:$MS_PORT/hello/bench" nginx "$NX_PID" \
    "http://127.0.0.1:$NX_PORT/hello" "" 2 $((CONNECTIONS * 2))
  summarize allcores microserver nginx "$HTTP_KEYS"
}

# idle: each round starts each server afresh, reads its RSS, opens IDLE_CONNS keep-alive
# connections that each made one request, reads the RSS again while they are held.
IDLE_CONNS=${IDLE_CONNS:-10000}
idle_one() {
  local round=$1 label=$2 pid=$3 port=$4 path=$5 dir=$BENCH_TMP/idle-$1-$2
  mkdir -p "$dir"
  check_200 "$SCHEME://127.0.0.1:$port$path"
  sleep 0.3
  local before after client deadline tls=()
  [[ $BENCH_TLS == 1 ]] && tls=(--tls)
  before=$(rss_kib "$pid")
  taskset -c "$CLIENT_CPU" python3 "$BENCH_DIR/idle_client.py" --port "$port" --path "$path" --count "$IDLE_CONNS" \
    --release "$dir/release" --timeout 120 --hold 150 "${tls[@]}" >"$dir/client.out" 2>"$dir/client.err" &
  client=$!
  BENCH_PIDS+=("$client")
  deadline=$((SECONDS + 130))
  while ! grep -q '^ready' "$dir/client.out" 2>/dev/null; do
    if ! kill -0 "$client" 2>/dev/null || ((SECONDS >= deadline)); then
      cat "$dir/client.err" >&2
      server_post_mortem "$pid" "$label"
      die "the idle client did not get its $IDLE_CONNS connections to $label"
    fi
    sleep 0.1
  done
  sleep 1  # let the server settle (deferred frees, buffers)
  after=$(rss_kib "$pid")
  touch "$dir/release"
  deadline=$((SECONDS + 20))
  while kill -0 "$client" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
  stop_pid "$client"
  local ready released ok failed closed per
  ready=$(grep '^ready' "$dir/client.out")
  released=$(grep '^released' "$dir/client.out" || echo "released closed_by_server=?")
  ok=$(grep -o 'ok=[0-9]*' <<<"$ready" | cut -d= -f2)
  failed=$(grep -o 'failed=[0-9]*' <<<"$ready" | cut -d= -f2)
  closed=${released##*=}
  per=$(awk -v a="$after" -v b="$before" -v n="$ok" 'BEGIN { printf "%.0f", n ? (a - b) * 1024 / n : 0 }')
  echo "$IDLE_ROW $round $label rss_before_kib=$before rss_after_kib=$after bytes_per_conn=$per errors=$((failed + ${closed/\?/0}))" >>"$RESULTS"
  printf '  round %-2s %-12s RSS %7s KiB -> %7s KiB for %s connections (%s failed, %s closed by server): %6s bytes/connection\n' \
    "$round" "$label" "$before" "$after" "$ok" "$failed" "$closed" "$per"
}

IDLE_ROW=idle
row_idle() {
  IDLE_ROW=${1:-idle}
  local need=$((IDLE_CONNS + 200))
  (($(ulimit -n) >= need)) || die "ulimit -n is $(ulimit -n) (hard $(ulimit -Hn)); the idle row needs $need: raise the hard limit"
  make_www
  make_plugin_dir hello
  printf '%s: %s %s keep-alive connections, one request each, held open (client: taskset -c %s python3 bench/idle_client.py)\n' \
    "$IDLE_ROW" "$IDLE_CONNS" "$SCHEME" "$CLIENT_CPU"
  local r ms_port nx_port
  for ((r = 1; r <= ROUNDS; r++)); do
    ms_port=$(port)
    microserver_config "$BENCH_TMP/idle-$r.yaml" "$ms_port" 1 1
    start_microserver "idle-ms-$r" "$BENCH_TMP/idle-$r.yaml" "$ms_port" "$SERVER_CPU"
    idle_one "$r" microserver "$LAST_PID" "$ms_port" /hello/bench
    stop_pid "$LAST_PID"
    nx_port=$(port)
    start_nginx "idle-nginx-$r" "$nx_port" 1 "$SERVER_CPU"
    idle_one "$r" nginx "$LAST_PID" "$nx_port" /hello
    stop_pid "$LAST_PID"
  done
  summarize "$IDLE_ROW" microserver nginx "bytes_per_conn:RSS_per_connection errors:failed_or_closed"
}

# chat: microserver's chat service vs redis pub/sub, same fan-out, same load tool.
CHAT_MEMBERS=${CHAT_MEMBERS:-10 100 1000 10000}
CHAT_SENDERS=${CHAT_SENDERS:-10}
CHAT_DURATION=${CHAT_DURATION:-1.5}
CHAT_RATE=${CHAT_RATE:-100000}
# fig FILE KEY: one `key value` line of fanout_client's output.
fig() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }

# fanout_measure OUT PIN "PIDS" LABEL [fanout_client args...]: one fanout_client run,
# pinned to core PIN ("": not pinned), its output in OUT. Fails the row if it fails or a
# server of PIDS (space-separated) dies meanwhile. Sets LAST_OTHER: the share (%) of the
# machine that was neither those servers nor the load tool during the run.
fanout_measure() {
  local out=$1 pin=$2 pids=$3 label=$4 pid pinning=() m0 m1 c0 c1 s0=0 s1=0
  shift 4
  [[ -n $pin ]] && pinning=(taskset -c "$pin")
  children_ticks
  c0=$CHILD_TICKS
  m0=$(machine_ticks)
  for pid in $pids; do s0=$((s0 + $(cpu_ticks "$pid"))); done
  timeout 120 "${pinning[@]}" "$FANOUT_BIN" "$@" >"$out" 2>"${out%.txt}.err" ||
    {
      cat "$out" "${out%.txt}.err" >&2
      for pid in $pids; do server_post_mortem "$pid" "$label"; done
      die "fanout_client failed against $label ($*)"
    }
  for pid in $pids; do
    kill -0 "$pid" 2>/dev/null || {
      server_post_mortem "$pid" "$label"
      die "$label died during a run ($out)"
    }
  done
  for pid in $pids; do s1=$((s1 + $(cpu_ticks "$pid"))); done
  m1=$(machine_ticks)
  children_ticks
  c1=$CHILD_TICKS
  LAST_OTHER=$(other_load "$m0" "$m1" $((s1 - s0)) $((c1 - c0)))
}

# wait_idle PID: until PID uses less than 2% of a core over 0.5 s (at most 120 s). After a
# large run the server is still busy a moment with the members leaving (each of 10,000
# leaves is announced to the rest): that must not count as the other server's load.
wait_idle() {
  local pid=$1 t0 t1 deadline=$((SECONDS + 120))
  while ((SECONDS < deadline)); do
    t0=$(cpu_ticks "$pid")
    sleep 0.5
    t1=$(cpu_ticks "$pid")
    (((t1 - t0) * 100 < CLK_TCK)) && return 0
  done
  warn "pid $pid still busy after 120 s"
}

chat_one() {
  local n=$1 round=$2 label=$3 mode=$4 pid=$5 port=$6 out other mark=""
  out=$BENCH_TMP/chat-$n-$round-$label.txt
  fanout_measure "$out" "$CLIENT_CPU" "$pid" "$label" --mode "$mode" --port "$port" --members "$n" \
    --senders "$CHAT_SENDERS" --duration "$CHAT_DURATION" --rate "$CHAT_RATE" --server-pid "$pid"
  other=$LAST_OTHER
  wait_idle "$pid"
  contaminated "$other" && mark="  <- other load ${other}%"
  local tput cpu p99 lost ooo pcpu
  tput=$(fig "$out" throughput.deliveries_per_s)
  cpu=$(fig "$out" throughput.server_cpu_us_per_delivery)
  p99=$(fig "$out" paced.p99_us)
  pcpu=$(fig "$out" paced.server_cpu_us_per_delivery)
  lost=$(($(fig "$out" throughput.lost) + $(fig "$out" paced.lost)))
  ooo=$(($(fig "$out" throughput.out_of_order) + $(fig "$out" paced.out_of_order)))
  echo "chat$n $round $label deliveries_per_s=$tput cpu_us=$cpu p99_us=$p99 paced_cpu_us=$pcpu lost=$lost out_of_order=$ooo other_load=$other" >>"$RESULTS"
  printf '  %4s members round %-2s %-11s %8.0f deliveries/s %6s µs CPU/delivery | paced: p99 %6s µs, %6s µs CPU/delivery | lost %s, out of order %s | other load %s%%%s\n' \
    "$n" "$round" "$label" "$tput" "$cpu" "$p99" "$pcpu" "$lost" "$ooo" "$other" "$mark"
}

row_chat() {
  [[ -f $MS_PLUGIN_DIR/libchat.so ]] || {
    echo "chat: skipped: $MS_PLUGIN_DIR/libchat.so is not built"
    return 0
  }
  [[ -x $FANOUT_BIN ]] || die "$FANOUT_BIN is missing (it is built with the Release build: bench/fanout_client.cpp)"
  make_www
  make_plugin_dir hello chat
  local ms_port chat_port redis_port ms_pid redis_pid n r services
  ms_port=$(port)
  chat_port=$(port)
  redis_port=$(port)
  services=$(printf '  - { plugin: chat, listen: "127.0.0.1:%s", config: { max_clients: 10000, summary_interval: 0 } }' "$chat_port")
  microserver_config "$BENCH_TMP/chat.yaml" "$ms_port" 1 1 "$services"
  start_microserver chat "$BENCH_TMP/chat.yaml" "$ms_port" "$SERVER_CPU"
  ms_pid=$LAST_PID
  grep -q "^service chat on 127.0.0.1:$chat_port" "$BENCH_TMP/chat/stdout" ||
    die "microserver did not announce 'service chat on 127.0.0.1:$chat_port' (see $BENCH_TMP/chat/stdout)"
  wait_port "$chat_port" "$ms_pid" "the chat service" || die "the chat service is not listening on $chat_port"
  start_redis redis "$redis_port" "$SERVER_CPU"
  redis_pid=$LAST_PID
  printf 'chat: taskset -c %s fanout_client --members N --senders %s --duration %s --rate %s (throughput: one line in flight per sender; paced: %s deliveries/s)\n' \
    "$CLIENT_CPU" "$CHAT_SENDERS" "$CHAT_DURATION" "$CHAT_RATE" "$CHAT_RATE"
  local attempt oa
  for n in $CHAT_MEMBERS; do
    for ((r = 1; r <= ROUNDS; r++)); do
      attempt=0
      while :; do
        chat_one "$n" "$r" microserver chat "$ms_pid" "$chat_port"
        oa=$LAST_OTHER
        chat_one "$n" "$r" redis redis "$redis_pid" "$redis_port"
        retry_round "chat$n" "$r" $((attempt++)) "$oa" "$LAST_OTHER" || break
      done
    done
  done
  for n in $CHAT_MEMBERS; do
    summarize "chat$n" microserver redis \
      "deliveries_per_s:deliveries/s cpu_us:server_CPU_per_delivery p99_us:p99_at_${CHAT_RATE}/s paced_cpu_us:CPU_per_delivery_paced lost:lost out_of_order:out_of_order"
  done
}

# chatfleet: one chat room across instances through Redis. The same FLEET_MEMBERS members
# and FLEET_SENDERS senders (fanout_client --ports: members and senders dealt round-robin
# over the instances) against three set-ups, each started afresh for every run and
# stopped by PID after it:
#   local1  one instance, no Redis (the room as in `chat`)
#   redis1  one instance linked through Redis (the cost of the Redis hop)
#   redis2  two instances sharing the room through Redis, half the members on each
# ROUNDS x (local1 redis1 redis2). Nothing is pinned (two instances, redis-server and the
# load tool share the machine); server CPU is that of the instances plus redis-server.
FLEET_MEMBERS=${FLEET_MEMBERS:-1000}
FLEET_SENDERS=${FLEET_SENDERS:-10}
FLEET_DURATION=${FLEET_DURATION:-3}
FLEET_RATE=${FLEET_RATE:-100000}
FLEET_REACTORS=${FLEET_REACTORS:-auto}

# start_chat_instance NAME INSTANCE [REDIS_URL]: a microserver (files under
# $BENCH_TMP/NAME) with the chat service; with REDIS_URL its room is linked through that
# Redis as instance INSTANCE. Sets LAST_PID and CHAT_PORT.
start_chat_instance() {
  local name=$1 instance=$2 url=${3:-} http_port link="" services
  http_port=$(port)
  CHAT_PORT=$(port)
  [[ -z $url ]] || link=", redis: \"$url\", instance: $instance"
  services=$(printf '  - { plugin: chat, listen: "127.0.0.1:%s", config: { max_clients: 5000, summary_interval: 0%s } }' \
    "$CHAT_PORT" "$link")
  microserver_config "$BENCH_TMP/$name.yaml" "$http_port" "$FLEET_REACTORS" 1 "$services"
  start_microserver "$name" "$BENCH_TMP/$name.yaml" "$http_port" ""
  grep -q "^service chat on 127.0.0.1:$CHAT_PORT" "$BENCH_TMP/$name/stdout" ||
    die "microserver ($name) did not announce 'service chat on 127.0.0.1:$CHAT_PORT' (see $BENCH_TMP/$name/stdout)"
  wait_port "$CHAT_PORT" "$LAST_PID" "the chat service ($name)" || die "the chat service ($name) is not listening on $CHAT_PORT"
}

# fleet_one ROUND LABEL: starts LABEL's servers, measures, stops them (instances first,
# then Redis: a stopping instance still publishes its members' leaves).
fleet_one() {
  local round=$1 label=$2 run=fleet-$1-$2 url="" redis_port redis_pid="" pid out other mark=""
  local pids=() ports=()
  if [[ $label != local1 ]]; then
    redis_port=$(port)
    start_redis "$run-redis" "$redis_port" ""
    redis_pid=$LAST_PID
    url=redis://127.0.0.1:$redis_port/0
  fi
  start_chat_instance "$run-a" a "$url"
  pids+=("$LAST_PID")
  ports+=("$CHAT_PORT")
  if [[ $label == redis2 ]]; then
    start_chat_instance "$run-b" b "$url"
    pids+=("$LAST_PID")
    ports+=("$CHAT_PORT")
  fi
  [[ -z $redis_pid ]] || pids+=("$redis_pid")
  out=$BENCH_TMP/$run.txt
  # The tool's sync step waits (bounded) until every instance is linked through Redis.
  fanout_measure "$out" "" "${pids[*]}" "$label" --mode chat --ports "$(IFS=,; echo "${ports[*]}")" \
    --members "$FLEET_MEMBERS" --senders "$FLEET_SENDERS" --duration "$FLEET_DURATION" --rate "$FLEET_RATE" \
    --server-pids "$(IFS=,; echo "${pids[*]}")"
  for pid in "${pids[@]}"; do stop_pid "$pid"; done
  other=$LAST_OTHER
  contaminated "$other" && mark="  <- other load ${other}%"
  local tput tp99 cpu pp99 pcpu lost ooo
  tput=$(fig "$out" throughput.deliveries_per_s)
  tp99=$(fig "$out" throughput.p99_us)
  cpu=$(fig "$out" throughput.server_cpu_us_per_delivery)
  pp99=$(fig "$out" paced.p99_us)
  pcpu=$(fig "$out" paced.server_cpu_us_per_delivery)
  lost=$(($(fig "$out" throughput.lost) + $(fig "$out" paced.lost)))
  ooo=$(($(fig "$out" throughput.out_of_order) + $(fig "$out" paced.out_of_order)))
  echo "chatfleet $round $label deliveries_per_s=$tput p99_us=$tp99 cpu_us=$cpu paced_p99_us=$pp99 paced_cpu_us=$pcpu lost=$lost out_of_order=$ooo other_load=$other" >>"$RESULTS"
  printf '  round %-2s %-7s %8.0f deliveries/s p99 %6s µs %6s µs CPU/delivery | paced: p99 %6s µs, %6s µs CPU/delivery | lost %s, out of order %s | other load %s%%%s\n' \
    "$round" "$label" "$tput" "$tp99" "$cpu" "$pp99" "$pcpu" "$lost" "$ooo" "$other" "$mark"
}

row_chatfleet() {
  [[ -f $MS_PLUGIN_DIR/libchat.so ]] || {
    echo "chatfleet: skipped: $MS_PLUGIN_DIR/libchat.so is not built"
    return 0
  }
  [[ -x $FANOUT_BIN ]] || die "$FANOUT_BIN is missing (it is built with the Release build: bench/fanout_client.cpp)"
  make_www
  make_plugin_dir hello chat
  printf 'chatfleet: fanout_client --ports P1[,P2] --members %s --senders %s --duration %s --rate %s; reactors: %s; nothing pinned; servers started afresh for each run\n' \
    "$FLEET_MEMBERS" "$FLEET_SENDERS" "$FLEET_DURATION" "$FLEET_RATE" "$FLEET_REACTORS"
  local r label attempt others
  for ((r = 1; r <= ROUNDS; r++)); do
    attempt=0
    while :; do
      others=()
      for label in local1 redis1 redis2; do
        fleet_one "$r" "$label"
        others+=("$LAST_OTHER")
      done
      retry_round chatfleet "$r" $((attempt++)) "${others[@]}" || break
    done
  done
  local keys="deliveries_per_s:deliveries/s p99_us:p99_throughput cpu_us:server_CPU_per_delivery paced_p99_us:p99_at_${FLEET_RATE}/s paced_cpu_us:CPU_per_delivery_paced lost:lost out_of_order:out_of_order"
  summarize chatfleet redis1 local1 "$keys"
  summarize chatfleet redis2 local1 "$keys"
}

usage() {
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

main() {
  local row=${1:-}
  case "$row" in
    hello | static1k | static100k | css20k | close | routes | allcores | idle | hellotls | idletls | h2hello | h2static1k | \
      chat | chatfleet | all) ;;
    *) usage ;;
  esac
  bench_prepare
  local start=$SECONDS
  case "$row" in
    hello) row_hello ;;
    static1k) row_static static1k 1k.bin ;;
    static100k) row_static static100k 100k.bin ;;
    css20k) CHECK=check_gzip row_static css20k site.css -H 'Accept-Encoding: gzip' ;;
    close) row_close ;;
    routes) row_routes ;;
    allcores) row_allcores ;;
    idle) row_idle ;;
    hellotls | idletls)
      BENCH_TLS=1
      SCHEME=https
      if [[ $row == hellotls ]]; then row_hellotls; else row_idle idletls; fi
      ;;
    h2hello | h2static1k)
      BENCH_TLS=1
      SCHEME=https
      if [[ $row == h2hello ]]; then h2_rows h2hello /hello/bench /hello; else h2_rows h2static1k /1k.bin /1k.bin; fi
      ;;
    chat) row_chat ;;
    chatfleet) row_chatfleet ;;
    all)
      local r
      export BENCH_NO_BUILD=1  # built once above
      for r in hello static1k static100k css20k close routes allcores idle hellotls idletls h2hello h2static1k chat chatfleet; do
        "$0" "$r" || warn "row $r failed"
      done
      return 0
      ;;
  esac
  log "row $row took $((SECONDS - start)) s; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
}

main "$@"
