# Sourced by Arbor's scripts: installs what the tests and the local runtime need from Debian's packages.

arbor_apt_install() { # arbor_apt_install PACKAGE... : installs when root, otherwise says how
  if [[ "$(id -u)" != 0 ]]; then
    echo "missing: $* — install with: sudo apt-get install -y $*" >&2
    return 1
  fi
  echo "installing $* (apt-get)..."
  # Debian's postgresql-common would create and start a 'main' cluster on port 5432; Arbor runs its
  # own servers, so switch that off before the package is installed.
  mkdir -p /etc/postgresql-common/createcluster.d
  [[ -f /etc/postgresql-common/createcluster.d/arbor.conf ]] || \
    echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/arbor.conf
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

arbor_require_postgres() { # arbor_require_postgres MAJOR
  local major=$1
  if [[ -x "/usr/lib/postgresql/$major/bin/postgres" && -x "/usr/lib/postgresql/$major/bin/pg_waldump" ]]; then
    return 0
  fi
  arbor_apt_install "postgresql-$major"
}

arbor_require_go() {
  command -v go >/dev/null && return 0
  echo "missing: go (>= 1.23), needed to build the Kubernetes test binaries from Go module sources." >&2
  echo "Install it from https://go.dev/doc/install or 'apt-get install golang' (Debian trixie)." >&2
  return 1
}

arbor_require_tool() { # arbor_require_tool COMMAND DEBIAN_PACKAGE
  command -v "$1" >/dev/null && return 0
  arbor_apt_install "$2"
}

# The e2e cluster and Arbor's images: Docker's engine (builds images), containerd, runc and the CNI
# plugins (the cluster's runtime), conntrack (kube-proxy), debootstrap (debian:trixie-slim made here),
# openssl (the cluster's certificates).
arbor_require_cluster_packages() {
  local need=()
  for p in docker.io containerd runc containernetworking-plugins conntrack iptables debootstrap openssl; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
  [[ ${#need[@]} -eq 0 ]] || arbor_apt_install "${need[@]}"
}

# arbor_start_docker [LOG]: starts dockerd when none answers, its output in LOG (default
# $TMPDIR/arbor-dockerd.log); prints its pid when this call started it (empty otherwise).
arbor_start_docker() {
  docker info >/dev/null 2>&1 && return 0
  local log="${1:-${TMPDIR:-/tmp}/arbor-dockerd.log}"
  setsid dockerd > "$log" 2>&1 < /dev/null &
  local pid=$!
  for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && { echo "$pid"; return 0; }
    sleep 0.5
  done
  echo "dockerd did not start; its log: $log" >&2
  return 1
}
