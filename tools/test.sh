#!/usr/bin/env bash
# The project's test command: checks, builds once in release mode, and runs every test of the
# workspace against the real rsync (3.5.0 from Debian, 3.2.7 unpacked beside it) and a real sshd.
#
# On a fresh Debian machine it installs what is missing (as root: apt-get install rsync
# openssh-server strace; apt-get download of rsync 3.2.7). A prerequisite that cannot be had is a hard
# failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "tools/test.sh: FATAL: $*" >&2; exit 1; }
trap 'echo "tools/test.sh: FATAL: command failed (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR
first_line() { local out; out=$("$@") || return 1; echo "${out%%$'\n'*}"; }
as_root() { [ "$(id -u)" = 0 ]; }
apt_updated=
apt_update() { [ -n "$apt_updated" ] || { apt-get update -qq && apt_updated=1; }; }

missing=()
command -v rsync >/dev/null 2>&1 || missing+=(rsync)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
command -v strace >/dev/null 2>&1 || missing+=(strace)
if [ ${#missing[@]} -gt 0 ]; then
  as_root || die "missing ${missing[*]}: run as root or 'sudo apt-get install -y ${missing[*]}'"
  echo "== installing ${missing[*]}"
  apt_update
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
first_line rsync --version

# rsync 3.2.7, the older peer of the interop matrix, unpacked beside the system one.
peers="$PWD/target/peers"
rsync327="$peers/rsync-3.2.7/usr/bin/rsync"
if [ ! -x "$rsync327" ]; then
  as_root || die "rsync 3.2.7 is not unpacked at $rsync327 and we are not root to fetch it"
  echo "== fetching rsync 3.2.7"
  apt_update
  dl=$(mktemp -d)
  chmod 777 "$dl"
  (cd "$dl" && apt-get download -qq rsync=3.2.7-1+deb12u6 2>/dev/null) ||
    die "apt-get download rsync=3.2.7-1+deb12u6 failed"
  mkdir -p "$peers/rsync-3.2.7"
  dpkg -x "$dl"/rsync_3.2.7-*.deb "$peers/rsync-3.2.7"
  rm -rf "$dl"
fi
v327=$(first_line "$rsync327" --version) || die "$rsync327 does not run"
case "$v327" in *"version 3.2.7"*) echo "$v327" ;; *) die "$rsync327 is not rsync 3.2.7: $v327" ;; esac
export RDSYNC_RSYNC_327="$rsync327"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== fuzz targets compile (cargo-fuzz crate outside the workspace)"
CARGO_TARGET_DIR="$PWD/target/fuzz-check" cargo check --manifest-path fuzz/Cargo.toml --bins --quiet
echo "== cargo build --release"
cargo build --release --workspace --all-targets --quiet
echo "== cargo test --release"
cargo test --release --workspace --no-fail-fast
