#!/usr/bin/env bash
# mpirun across the simulated hosts of $SIMHOSTS_DIR (simhosts.sh): mpirun itself runs in host 0,
# remote daemons start through rsh_agent.sh, and PRRTE's out-of-band traffic and the TCP BTL
# are pinned to the hosts' subnet, so every byte between hosts crosses the simulated network.
#   SIMHOSTS_DIR=DIR mpirun.sh [mpirun options] PROGRAM...     ($MPIRUN: which mpirun, default on PATH)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${SIMHOSTS_DIR:?set by simhosts.sh run, or to the DIR of simhosts.sh up}
subnet=$(cat "$dir/subnet")
read -r _ name0 ns0 <"$dir/hosts"
mpirun=$(command -v "${MPIRUN:-mpirun}") || { echo "mpirun.sh: no mpirun (set MPIRUN)" >&2; exit 127; }
root=()
[ "$(id -u)" != 0 ] || root=(--allow-run-as-root)
# PRRTE 3 (Open MPI 5) names: prte_ssh_agent = plm_rsh_agent, prte_if_include = oob_tcp_if_include
exec ip netns exec "$ns0" unshare --uts /bin/sh -c 'hostname "$0" && exec "$@"' "$name0" \
  "$mpirun" "${root[@]}" --hostfile "$dir/hostfile" \
  --prtemca prte_ssh_agent "$here/rsh_agent.sh" --prtemca prte_if_include "$subnet" \
  --mca btl self,tcp --mca btl_tcp_if_include "$subnet" --mca pml ob1 "$@"
