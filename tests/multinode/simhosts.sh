#!/usr/bin/env bash
# Simulated hosts: network namespaces on this machine, each a "host" with its own address, joined
# through a bridge that lives in a switch namespace of its own, so that every address and every
# packet stays inside namespaces made here. Needs root and iproute2.
#
#   simhosts.sh up DIR [HOSTS] [DELAY_MS]   make HOSTS (2-4, default 2) hosts; DIR gets:
#       hosts       "ADDRESS NAME NAMESPACE" per host (the launch agent reads it)
#       hostfile    one host name per host, for mpirun --hostfile
#       namespaces  every namespace made, switch last (what `down` deletes)
#       subnet      the hosts' subnet (for Open MPI's *_if_include)
#   simhosts.sh down DIR                    end what still runs in them, delete them
#   simhosts.sh run [-n HOSTS] [-d DELAY_MS] -- COMMAND...
#       up in a temporary DIR, COMMAND with SIMHOSTS_DIR=DIR in the environment, then down,
#       also on failure and Ctrl-C
#
# Each host's name (h0, h1, ...) resolves inside the hosts through /etc/netns/NAMESPACE/hosts,
# which `ip netns exec` mounts over /etc/hosts; the launch agent gives each host its own UTS
# namespace with that host name. DELAY_MS adds that much latency to every host's link (tc netem) where the kernel has netem.
set -euo pipefail

SUBNET_PREFIX=${SIMHOSTS_SUBNET_PREFIX:-10.213.0}  # hosts are .1 .. .HOSTS of this /24

die() { echo "simhosts: $*" >&2; exit 1; }

check_can() {
  [ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
  command -v ip >/dev/null || die "needs iproute2's ip"
}

up() {
  local dir=$1 n=${2:-2} delay=${3:-0}
  [[ $n =~ ^[2-4]$ ]] || die "HOSTS must be 2, 3 or 4, not '$n'"
  check_can
  mkdir -p "$dir"
  # unique per run: several runs (and several test sessions) coexist on one machine
  local prefix="pdt$$-$RANDOM"
  local sw="$prefix-sw"
  : >"$dir/hosts"; : >"$dir/hostfile"; : >"$dir/namespaces"
  echo "$SUBNET_PREFIX.0/24" >"$dir/subnet"
  ip netns add "$sw"
  echo "$sw" >>"$dir/namespaces"  # recorded at once: a failure below still tears it down
  ip netns exec "$sw" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 || true
  ip -n "$sw" link add br0 type bridge
  ip -n "$sw" link set br0 up
  local i ns addr
  for ((i = 0; i < n; i++)); do
    ns="$prefix-h$i"
    addr="$SUBNET_PREFIX.$((i + 1))"
    ip netns add "$ns"
    echo "$ns" >>"$dir/namespaces"
    # IPv6 off: no link-local addresses for Open MPI to try
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || true
    # the pair is made inside the switch namespace and one end moved: no name in the root namespace
    ip -n "$sw" link add "port$i" type veth peer name eth0 netns "$ns"
    ip -n "$sw" link set "port$i" master br0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$addr/24" dev eth0
    ip -n "$ns" link set eth0 up
    if [ "$delay" != 0 ]; then
      tc -n "$ns" qdisc add dev eth0 root netem delay "${delay}ms" 2>/dev/null \
        || echo "simhosts: no netem in this kernel; links without added latency" >&2
    fi
    echo "$addr h$i $ns" >>"$dir/hosts"
    echo "h$i" >>"$dir/hostfile"
  done
  for ((i = 0; i < n; i++)); do
    mkdir -p "/etc/netns/$prefix-h$i"
    { echo "127.0.0.1 localhost"; awk '{ print $1, $2 }' "$dir/hosts"; } >"/etc/netns/$prefix-h$i/hosts"
  done
}

down() {
  local dir=$1 ns pid
  [ -f "$dir/namespaces" ] || return 0
  while read -r ns; do
    [ -n "$ns" ] || continue
    # a namespace outlives its name while a process is inside: end those we left there
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null || true; done
  done <"$dir/namespaces"
  sleep 0.2
  while read -r ns; do
    [ -n "$ns" ] || continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "/etc/netns/${ns:?}"
  done <"$dir/namespaces"
  rm -f "$dir/namespaces"
}

run() {
  local n=2 delay=0
  while [ $# -gt 0 ]; do
    case $1 in
      -n) n=$2; shift 2 ;;
      -d) delay=$2; shift 2 ;;
      --) shift; break ;;
      *) die "unknown option '$1'" ;;
    esac
  done
  [ $# -gt 0 ] || die "run: no command"
  local dir
  dir=$(mktemp -d /tmp/simhosts.XXXXXX)
  TEARDOWN_DIR=$dir
  trap '[ -z "${CHILD:-}" ] || kill -TERM -- "-$CHILD" 2>/dev/null || true; down "$TEARDOWN_DIR"; rm -rf "$TEARDOWN_DIR"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  up "$dir" "$n" "$delay"
  echo "simhosts: hosts $(paste -sd " " "$dir/hostfile") in namespaces $(paste -sd " " "$dir/namespaces")" >&2
  # in the background: a signal to this shell runs the traps now, not when COMMAND ends; in a
  # session of its own: the traps end all of COMMAND's processes (setsid does not fork here)
  SIMHOSTS_DIR=$dir setsid "$@" &
  CHILD=$!
  wait "$CHILD"
}

case ${1:-} in
  up)
    shift; [ $# -ge 1 ] || die "up: no DIR"
    TEARDOWN_DIR=$1  # a global: trap commands see the positional parameters of whatever exits
    trap '[ $? = 0 ] || down "$TEARDOWN_DIR"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    up "$@" ;;
  down) shift; [ $# -ge 1 ] || die "down: no DIR"; down "$1" ;;
  run) shift; run "$@" ;;
  *) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
