# Shared by e2e/cluster/up, down, images and dns: where the cluster lives and how its parts are named.
DIR="${ARBOR_CLUSTER_DIR:-/var/tmp/arbor-e2e-cluster}"
RUN="/run/arbor-e2e"
KUBECONFIG_FILE="$DIR/kubeconfig"
RECORD="$DIR/created"
NODE_NAME=arbor-e2e
BRIDGE=arbore2e0
POD_CIDR=10.213.64.0/24
NODE_IP=10.213.64.1
SERVICE_CIDR=10.213.65.0/24
SERVICE_IP=10.213.65.1
DNS_IP=10.213.65.10
ETCD_PORT=23790
ETCD_PEER_PORT=23791
API_PORT=26443
CM_PORT=26257
SCHED_PORT=26259
KUBELET_PORT=26250
KUBELET_HEALTHZ_PORT=26248
PROXY_METRICS_PORT=26249
PROXY_HEALTHZ_PORT=26256
PAUSE_IMAGE=arbor.local/pause:1
COREDNS_IMAGE=arbor.local/coredns:1.11.3
# Dynamic volumes (e2e/cluster/provisioner): the default StorageClass, its provisioner, where volumes live.
STORAGE_CLASS=arbor-e2e-local
PROVISIONER_NAME=arbor.dev/e2e-local
VOLUMES_DIR="$DIR/volumes"
PROVISIONER_BIN="$HOME/.cache/arbor/arbor-e2e-provisioner"

# Appends "KIND VALUE" to the record that down undoes, once.
record() {
  mkdir -p "$DIR"
  grep -qxF "$1 $2" "$RECORD" 2>/dev/null || echo "$1 $2" >> "$RECORD"
}

# start NAME COMMAND...: runs it in the background, its own session, output in logs/NAME.log.
start() {
  local name=$1; shift
  local pidfile="$DIR/run/$name.pid"
  if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    return 0
  fi
  mkdir -p "$DIR/run" "$DIR/logs"
  setsid "$@" >> "$DIR/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
  record pid "$pidfile"
}

# stop NAME: the process started as NAME, by its recorded pid (SIGTERM, SIGKILL after 10 s).
stop() {
  local pidfile="$DIR/run/$1.pid"
  [[ -f "$pidfile" ]] || return 0
  local pid; pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

# wait_for WHAT COMMAND...: retries for 120 s.
wait_for() {
  local what=$1; shift
  for _ in $(seq 240); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "timed out waiting for $what; logs in $DIR/logs" >&2
  return 1
}

cluster_ready() {
  [[ -f "$KUBECONFIG_FILE" ]] || return 1
  local bin; bin="$("$(dirname "${BASH_SOURCE[0]}")/../../scripts/kube-binaries" --print-dir)"
  "$bin/kubectl" --kubeconfig "$KUBECONFIG_FILE" get node "$NODE_NAME" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -q True
}

# Keeps the cluster's traffic on this machine. Pods reach each other, the node (INPUT) and Services with
# an endpoint (kube-proxy has rewritten those to a pod address before FORWARD). Anything else a pod sends
# through FORWARD (another network, a Service IP with no endpoint) is refused here, first in FORWARD:
# the CNI firewall plugin's chain, which comes earlier otherwise, accepts all of a pod's traffic, and the
# bridge plugin masquerades it out of the machine. down removes the chain with the others up added.
isolate_cluster() {
  iptables -N ARBOR-E2E-ISOLATE 2>/dev/null || true
  iptables -F ARBOR-E2E-ISOLATE
  iptables -A ARBOR-E2E-ISOLATE -s "$POD_CIDR" ! -d "$POD_CIDR" -j REJECT --reject-with icmp-port-unreachable
  while iptables -D FORWARD -j ARBOR-E2E-ISOLATE 2>/dev/null; do :; done
  iptables -I FORWARD 1 -j ARBOR-E2E-ISOLATE
}

# A Docker daemon that answers (the images are built with it). When none does, starts dockerd, its pid
# recorded so that down stops it (and no dockerd it did not start); where that cannot be done, fails
# with one line that says what to run.
ensure_docker() {
  docker info >/dev/null 2>&1 && return 0
  if ! command -v dockerd >/dev/null; then
    echo "Docker is not installed: apt-get install docker.io (scripts/test installs it), then run this again" >&2
    return 1
  fi
  if [[ $EUID -ne 0 ]]; then
    echo "Docker is not running and only root can start it: run this as root, or start dockerd (sudo dockerd &)" >&2
    return 1
  fi
  source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/prereqs.sh"
  mkdir -p "$DIR/run" "$DIR/logs"
  local pid
  pid=$(arbor_start_docker "$DIR/logs/dockerd.log") || return 1
  [[ -n "$pid" ]] || return 0
  echo "$pid" > "$DIR/run/dockerd.pid"
  record pid "$DIR/run/dockerd.pid"
  echo "started dockerd (pid $pid, log $DIR/logs/dockerd.log); e2e/cluster/down stops it" >&2
}
