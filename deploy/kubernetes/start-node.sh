#!/bin/sh
# Starts one dkv pod of the StatefulSet in deploy/kubernetes: a coordinating storage node
# (`dkv node --coordinate`) known by its pod's stable DNS name, joining the cluster through the
# stable names of the first pods. The container's arguments run it (after tini, the image's
# entry point); the multi-host test (apps/cli/src/kubernetes-netns.e2e.test.ts) runs this same
# file in network namespaces, so what it decides is tested.
#
# Inputs (environment; the StatefulSet sets them):
#   POD_NAME            the pod's name, e.g. dkv-3 (downward API metadata.name); its ordinal is
#                       the part after the last '-'. Default: the host name.
#   POD_NAMESPACE       the pod's namespace (downward API metadata.namespace). Required.
#   DKV_SERVICE         the headless Service that gives each pod its DNS name. Default: dkv.
#   DKV_CLUSTER_DOMAIN  the cluster's DNS domain. Default: cluster.local.
#   DKV_HOST            the interface to listen on. Default: 0.0.0.0 (every interface of the pod).
#   DKV_PORT            the node's port (HTTP, internode and health). Default: 7000.
#   DKV_DATA_DIR        the persistent volume's mount point. Required: the data lives in
#                       $DKV_DATA_DIR/$POD_NAME, and whether that directory exists is how pod 0
#                       tells a first start from a restart.
#   DKV_SEEDS           how many of the first pods (ordinals 0..DKV_SEEDS-1) a node joins
#                       through; at least 2, so that pod 0 has one to rejoin through. Default: 3.
#   DKV_ZONE            the node's failure domain; empty or unset means none (see deploy/README.md).
#   DKV_BOOTSTRAP       "auto" (default): pod 0 starts a new cluster when it has no data directory;
#                       "never": pod 0 always joins (set it when pod 0 lost its volume while the
#                       cluster runs, so that it rejoins instead of starting a cluster of its own).
# Any other DKV_* variable is read by dkv itself (see the README's configuration tables), and
# arguments given to this script are passed on to `dkv node`.
#
# The bootstrap rule: pod 0 on its first start (no data directory yet) starts a cluster of its
# own; every other pod, and pod 0 when it restarts with its data, joins through the seeds' names
# (itself left out). A joining node that is already a member (a restart) rejoins as itself.
set -eu

fail() {
  echo "start-node.sh: $1" >&2
  exit 2
}

pod="${POD_NAME:-$(hostname)}"
[ -n "${POD_NAMESPACE:-}" ] || fail "POD_NAMESPACE must be set (the pod's namespace, from the downward API)"
[ -n "${DKV_DATA_DIR:-}" ] || fail "DKV_DATA_DIR must be set (the persistent volume's mount point)"
service="${DKV_SERVICE:-dkv}"
domain="${DKV_CLUSTER_DOMAIN:-cluster.local}"
port="${DKV_PORT:-7000}"
seeds="${DKV_SEEDS:-3}"
set_name="${pod%-*}"
ordinal="${pod##*-}"
case "$ordinal" in
  '' | *[!0-9]*) fail "POD_NAME \"$pod\" must end in -<ordinal> (a StatefulSet pod's name)" ;;
esac
case "$seeds" in
  '' | *[!0-9]* | 0 | 1) fail "DKV_SEEDS \"$seeds\" must be a whole number of at least 2 (pod 0 rejoins through another seed)" ;;
esac
peers="$service.$POD_NAMESPACE.svc.$domain"

join=""
i=0
while [ "$i" -lt "$seeds" ]; do
  if [ "$i" != "$ordinal" ]; then
    join="${join:+$join,}$set_name-$i.$peers:$port"
  fi
  i=$((i + 1))
done

# A first start of pod 0 bootstraps; everything else joins.
set -- --coordinate --id "$pod" --host "${DKV_HOST:-0.0.0.0}" --port "$port" --advertise-address "$pod.$peers:$port" --data-dir "$DKV_DATA_DIR" "$@"
bootstrap="${DKV_BOOTSTRAP:-auto}"
case "$bootstrap" in
  auto | never) ;;
  *) fail "DKV_BOOTSTRAP \"$bootstrap\" must be auto or never" ;;
esac
if [ "$ordinal" = 0 ] && [ "$bootstrap" = auto ] && [ ! -d "$DKV_DATA_DIR/$pod" ]; then
  echo "start-node.sh: $pod starts a new cluster (no data in $DKV_DATA_DIR/$pod)" >&2
else
  echo "start-node.sh: $pod joins through $join" >&2
  set -- "$@" --join "$join"
fi
# The zone label is empty where Kubernetes does not copy it to the pod: no zone then.
if [ -n "${DKV_ZONE:-}" ]; then
  set -- "$@" --zone "$DKV_ZONE"
fi
unset DKV_ZONE

here="$(cd "$(dirname "$0")" && pwd)"
exec node "$here/../../apps/cli/bin/dkv.js" node "$@"
