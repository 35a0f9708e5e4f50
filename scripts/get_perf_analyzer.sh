#!/usr/bin/env bash
# Install perf_analyzer (Triton's load generator) under build/perf-tools, without touching the system.
#
# The perf-analyzer 2.60.0 wheel needs glibc >= 2.38 and GLIBCXX_3.4.32; Debian 12 has 2.36 and
# 3.4.30. So this script fetches Debian 13 (trixie) libc6, libstdc++6 and libgcc-s1 with
# `apt-get download` (a private sources list and lists dir, the system's own mirror and archive
# keyring, signatures checked), unpacks them with dpkg -x, and writes build/perf-tools/perf_analyzer:
# a wrapper that runs the binary through that glibc's dynamic loader. In NVIDIA's -sdk container
# perf_analyzer runs natively and none of this is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="$PWD/build/perf-tools"
WRAPPER="$TOOLS/perf_analyzer"
[ -x "$WRAPPER" ] && "$WRAPPER" --version >/dev/null 2>&1 && exit 0
PY="${PY:-.venv/bin/python}"
rm -rf "$TOOLS" && mkdir -p "$TOOLS"/{wheel,debs,sysroot} "$TOOLS"/apt/{lists/partial,cache/archives/partial}

"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --platform manylinux_2_38_x86_64 perf-analyzer==2.60.0 -d "$TOOLS/wheel"
"$PY" -m zipfile -e "$TOOLS"/wheel/*.whl "$TOOLS/wheel/unpacked"
BIN="$TOOLS/wheel/unpacked/perf_analyzer/bin/perf_analyzer"
chmod +x "$BIN"

MIRROR=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$MIRROR" ] || MIRROR=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list)
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR trixie main" > "$TOOLS/apt/sources.list"
APT=(-o "Dir::Etc::SourceList=$TOOLS/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
     -o "Dir::State::Lists=$TOOLS/apt/lists" -o "Dir::Cache=$TOOLS/apt/cache" -o APT::Sandbox::User=root)
apt-get "${APT[@]}" -qq update
(cd "$TOOLS/debs" && apt-get "${APT[@]}" -qq download libc6 libstdc++6 libgcc-s1)
for deb in "$TOOLS"/debs/*.deb; do dpkg -x "$deb" "$TOOLS/sysroot"; done

LIB="$TOOLS/sysroot/usr/lib/x86_64-linux-gnu"
cat > "$WRAPPER" <<WRAP
#!/usr/bin/env bash
exec "$LIB/ld-linux-x86-64.so.2" --library-path "$LIB:/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu" "$BIN" "\$@"
WRAP
chmod +x "$WRAPPER"
"$WRAPPER" --version
