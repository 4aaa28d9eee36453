# Sourced by Arbor's scripts: builds the repository's own Go programs with this machine's `go` and caches
# the binaries outside the repository.

# arbor_go_build SRC BIN: builds the main package in SRC (a module of its own) into BIN, static and
# stripped, unless BIN was built from the same go.mod, go.sum, Go sources and `go version` (the stamp
# .NAME.stamp beside it). GOFLAGS=-mod=readonly: go.sum must be complete, so a build needs no network
# once the module cache holds the dependencies. Prints on stderr what it did.
arbor_go_build() {
  local src=$1 bin=$2 name
  name=$(basename "$bin")
  command -v go >/dev/null || {
    echo "$name: 'go' not found; install Go (https://go.dev/doc/install, or apt-get install golang) and retry" >&2; return 1; }
  local stamp_file stamp
  stamp_file="$(dirname "$bin")/.$name.stamp"
  stamp="$(cd "$src" && cat go.mod $(ls go.sum 2>/dev/null) $(LC_ALL=C ls *.go) <(GOTOOLCHAIN=local go version) \
    | sha256sum | cut -c1-16)"
  if [[ -x "$bin" && "$(cat "$stamp_file" 2>/dev/null)" == "$stamp" ]]; then
    echo "$name: cached ($bin)" >&2
    return 0
  fi
  echo "$name: building from $src..." >&2
  mkdir -p "$(dirname "$bin")"
  local t0=$SECONDS
  (cd "$src" && GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin.tmp" .)
  mv -f "$bin.tmp" "$bin"
  echo "$stamp" > "$stamp_file"
  echo "$name: built $bin in $((SECONDS - t0))s" >&2
}
