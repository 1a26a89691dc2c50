#!/usr/bin/env bash
# microserver.sh: the quick start's two commands, and a few more for developers.
#
#   ./microserver.sh run [ARGS...]     install what is missing, build, run the server on routes.yaml
#   ./microserver.sh test              install what is missing, build, run every test, then the
#                                      fuzzers for FUZZ_SECONDS (default 30) each
#   ./microserver.sh test asan|tsan    the suite under AddressSanitizer+UBSan / ThreadSanitizer
#   ./microserver.sh test fuzz         only the fuzzers
#   ./microserver.sh build [PRESET]    just build (presets: default, release, package, dev, ci, asan, tsan)
#   ./microserver.sh cert              make tls/localhost.crt and .key (self-signed, for the https
#                                      listener of the default routes.yaml) if they are missing
#   ./microserver.sh package           a release build, then the Debian package (cpack, in
#                                      build/package/); prints the path of the .deb
#
# Installing uses apt-get (through sudo when not root) and is a no-op when every package
# listed in scripts/packages-*.txt is already installed.
set -euo pipefail
cd "$(dirname "$0")"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Installs the Debian packages listed in the given files that are not installed yet.
install_packages() {
  local wanted=() missing=() pkg
  for list in "$@"; do
    while read -r pkg; do
      [[ -z "$pkg" || "$pkg" == \#* ]] || wanted+=("$pkg")
    done < "$list"
  done
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "microserver.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  log "installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build() {
  local preset=$1
  log "building ($preset)"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$(nproc)"
}

# A self-signed certificate for localhost in tls/, for the https://127.0.0.1:8443/ listener
# of the default routes.yaml; made once, kept until deleted. Browsers warn about it: it is
# for trying HTTPS out, not for production (see README, "Running in production").
make_certificate() {
  [[ -f tls/localhost.crt && -f tls/localhost.key ]] && return 0
  command -v openssl >/dev/null || install_packages scripts/packages-build.txt
  log "making a self-signed certificate for localhost: tls/localhost.crt, tls/localhost.key"
  mkdir -p tls
  (umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
    -keyout tls/localhost.key -out tls/localhost.crt 2>/dev/null)
}

cmd=${1:-help}
shift || true
case "$cmd" in
  run)
    install_packages scripts/packages-build.txt
    build default
    make_certificate
    log "starting: build/default/microserver --config routes.yaml $* (http://127.0.0.1:8080/, https://127.0.0.1:8443/)"
    exec build/default/microserver --config routes.yaml "$@"
    ;;
  test)
    variant=${1:-ci}
    case "$variant" in ci|asan|tsan|fuzz) ;; *) echo "usage: $0 test [asan|tsan|fuzz]" >&2; exit 2 ;; esac
    install_packages scripts/packages-build.txt scripts/packages-test.txt
    if [[ "$variant" != fuzz ]]; then
      build "$variant"
      log "testing ($variant)"
      ctest --preset "$variant" -j "$(nproc)"
    fi
    if [[ "$variant" == ci || "$variant" == fuzz ]]; then
      log "fuzzing (${FUZZ_SECONDS:-30} s per target)"
      cmake --preset fuzz -DMICROSERVER_FUZZ_SECONDS="${FUZZ_SECONDS:-30}" >/dev/null
      cmake --build --preset fuzz -j "$(nproc)"
      # One fuzzer per core: each is single-threaded and runs for a fixed time.
      ctest --preset fuzz -j "$(nproc)"
    fi
    ;;
  build)
    install_packages scripts/packages-build.txt scripts/packages-test.txt
    build "${1:-default}"
    ;;
  cert)
    make_certificate
    ;;
  package)
    install_packages scripts/packages-build.txt
    build package >&2   # stdout is only the .deb's path: deb=$(./microserver.sh package)
    log "packaging (cpack)"
    # cpack names what it made ("CPack: - package: FILE generated."); that path is our output.
    deb=$(cpack --preset package | tee /dev/stderr | sed -n 's/^CPack: - package: \(.*\.deb\) generated\.$/\1/p')
    [[ -n "$deb" ]] || { echo "microserver.sh: cpack made no .deb (its output is above)" >&2; exit 1; }
    echo "$deb"
    ;;
  *)
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    [[ "$cmd" == help || "$cmd" == -h || "$cmd" == --help ]] || exit 2
    ;;
esac
