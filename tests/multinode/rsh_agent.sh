#!/usr/bin/env bash
# Open MPI's launch agent for the simulated hosts (--prtemca plm_rsh_agent): called like ssh,
# `rsh_agent.sh [options] HOST COMMAND...`, it runs COMMAND with /bin/sh inside HOST's network
# namespace, found by address or name in $SIMHOSTS_DIR/hosts (simhosts.sh writes it), with
# the host's name as its hostname (a UTS namespace of its own), as on a real node.
set -euo pipefail
while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do shift; done  # ssh options: nothing to do with them
[ $# -ge 2 ] || { echo "rsh_agent: usage: rsh_agent.sh HOST COMMAND..." >&2; exit 255; }
host=$1; shift
read -r name ns < <(awk -v h="$host" '$1 == h || $2 == h { print $2, $3; exit }' "${SIMHOSTS_DIR:?not set}/hosts") \
  || { echo "rsh_agent: no simulated host '$host' in $SIMHOSTS_DIR/hosts" >&2; exit 255; }
# like ssh: the words are joined and the remote shell parses them (PRRTE sends "VAR=...; export VAR; prted ...")
exec ip netns exec "$ns" unshare --uts /bin/sh -c "hostname $name && $*"
