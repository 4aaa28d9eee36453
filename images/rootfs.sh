#!/bin/sh
# rootfs.sh PATH...: run by the first stage of each Arbor image's Dockerfile (images/build puts it in
# every build context). Gathers /rootfs, the whole root filesystem of the final stage (FROM scratch):
#   - each PATH (file or directory) at the same place; symbolic links in what is copied become copies of
#     the files they point to (a link may lead out of the copied tree, e.g. into /etc), links to
#     directories stay, and links to nothing are left out;
#   - every shared library the ELF files among them link to (ldd), and the dynamic loader;
#   - /tmp (mode 1777), and /etc/passwd and /etc/group that know UID/GID 10001 (arbor), the user every
#     Arbor image runs as.
# Nothing else: no shell, package manager or tool unless a PATH names it.
set -eu
out=/rootfs
mkdir -p "$out/etc" "$out/tmp"
chmod 1777 "$out/tmp"
for path in "$@"; do
  [ -e "$path" ] || { echo "rootfs.sh: $path does not exist" >&2; exit 1; }
  mkdir -p "$out$(dirname "$path")"
  cp -a "$path" "$out$path"
done

find "$out" -type l | while read -r link; do
  target="$(readlink -f "${link#"$out"}" || true)"
  if [ -f "$target" ]; then
    rm "$link"
    cp "$target" "$link"
  elif [ ! -d "$target" ]; then
    rm "$link"
  fi
done

find "$out" -type f \( -name '*.so' -o -name '*.so.*' -o -perm -u+x \) -exec ldd {} \; 2>/dev/null \
  | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\/.*ld-linux/ { print $1 }' \
  | sort -u | while read -r lib; do
    case "$lib" in "$out"/*) continue ;; esac
    [ -e "$out$lib" ] || cp -L --parents "$lib" "$out/"
  done

printf 'root:x:0:0::/root:/nonexistent\narbor:x:10001:10001::/nonexistent:/nonexistent\n' > "$out/etc/passwd"
printf 'root:x:0:\narbor:x:10001:\n' > "$out/etc/group"
