# Sourced by Arbor's scripts: exports JAVA_HOME pointing at a JDK >= 21.
# Order: $JAVA_HOME if it is new enough, then every JDK under /usr/lib/jvm (newest first).
# These machines have a Temurin 25 JDK beside the default JDK 17.

arbor_java_major() { # prints the major version of the JDK at $1, or nothing
  [[ -x "$1/bin/javac" ]] || return 0
  "$1/bin/java" -XshowSettings:properties -version 2>&1 \
    | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p' | head -1
}

arbor_find_java() {
  local candidates=() dir major
  [[ -n "${JAVA_HOME:-}" ]] && candidates+=("$JAVA_HOME")
  while IFS= read -r dir; do candidates+=("$dir"); done < <(ls -d /usr/lib/jvm/*/ 2>/dev/null | sed 's:/$::' | sort -rV)
  for dir in "${candidates[@]}"; do
    major="$(arbor_java_major "$dir")"
    if [[ -n "$major" && "$major" -ge 21 ]]; then
      export JAVA_HOME="$dir"
      return 0
    fi
  done
  echo "Arbor needs a JDK >= 21 to build (found none in \$JAVA_HOME or /usr/lib/jvm)." >&2
  echo "Install one, e.g. 'apt-get install openjdk-21-jdk-headless' (Debian trixie) or Temurin 21+, or set JAVA_HOME." >&2
  return 1
}
