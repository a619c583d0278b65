# Sourced by ./jgpt and ./run-tests: sets JAVA_HOME to a JDK 25 or newer, or explains what to install.
java_major() {
  "$1/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1
}

find_jdk() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/javac" ]; then
    v=$(java_major "$JAVA_HOME")
    if [ -n "$v" ] && [ "$v" -ge 25 ]; then return 0; fi
  fi
  for d in /usr/lib/jvm/*25* /usr/lib/jvm/*; do
    [ -x "$d/bin/javac" ] || continue
    v=$(java_major "$d")
    if [ -n "$v" ] && [ "$v" -ge 25 ]; then export JAVA_HOME="$d"; return 0; fi
  done
  echo "jgpt needs a JDK 25 or newer (for the Vector API and the Foreign Function & Memory API)." >&2
  echo "Install one (for example Temurin 25 under /usr/lib/jvm) or set JAVA_HOME to it." >&2
  return 1
}
