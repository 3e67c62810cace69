# tests/lib.sh: shared set-up for tests/demo.sh and tests/run.sh (sourced).
# Installs what is missing (Debian or Ubuntu, apt; through sudo when not
# root), builds herenow out of tree in _build/, fills in the lighttpd
# configuration, and installs the integration tests' npm packages.

set -euo pipefail

HN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HN_BUILD=$HN_ROOT/_build
HN_BIN=$HN_BUILD/src/herenow
# The statically linked herenow for shared hosting, built on its own.
HN_STATIC_BUILD=$HN_ROOT/_build-static
HN_STATIC_BIN=$HN_STATIC_BUILD/src/herenow

hn_say() {
	printf '==> %s\n' "$*" >&2
}

hn_die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

hn_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		hn_die "need root for: $* (no sudo)"
	fi
}

hn_installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null |
	    grep -q 'install ok installed'
}

# The packages herenow needs to build, test and run the demo; only the
# missing ones are installed, and apt-get update runs only then.  chromium
# is the browser the widget's tests drive (through playwright-core, which
# never downloads one of its own).
hn_install_deps() {
	local want=(build-essential autoconf automake libtool pkg-config
	    libfcgi-dev libsqlite3-dev libjansson-dev check nettle-dev
	    lighttpd sqlite3 curl chromium valgrind)
	local missing=() p
	command -v apt-get >/dev/null 2>&1 ||
	    hn_die "apt-get not found: this set-up is for Debian or Ubuntu"
	for p in "${want[@]}"; do
		hn_installed "$p" || missing+=("$p")
	done
	# A node that came from elsewhere (e.g. a newer nodejs package with
	# its own npm) is kept: Debian's npm would conflict with it.
	if ! command -v node >/dev/null 2>&1; then
		missing+=(nodejs)
		command -v npm >/dev/null 2>&1 || missing+=(npm)
	elif ! command -v npm >/dev/null 2>&1; then
		missing+=(npm)
	fi
	if [ "${#missing[@]}" -gt 0 ]; then
		hn_say "installing ${missing[*]}"
		hn_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
		hn_root env DEBIAN_FRONTEND=noninteractive \
		    apt-get install -y -q --no-install-recommends "${missing[@]}"
	fi
}

# autoreconf in the source tree, configure and make in _build/.
# HN_CONFIGURE_FLAGS (e.g. --enable-sanitizers) is passed to configure.
hn_build() {
	local jobs
	jobs=$(nproc 2>/dev/null || echo 2)
	hn_say "autoreconf -fi"
	(cd "$HN_ROOT" && autoreconf -fi)
	[ ! -e "$HN_ROOT/config.status" ] || hn_die "the source tree is" \
	    "configured itself (./configure there): run 'make distclean'" \
	    "in $HN_ROOT first, the scripts build in _build/"
	mkdir -p "$HN_BUILD"
	hn_say "configure ${HN_CONFIGURE_FLAGS:-} (in _build/)"
	# shellcheck disable=SC2086
	(cd "$HN_BUILD" && ../configure -q ${HN_CONFIGURE_FLAGS:-})
	hn_say "make -j$jobs"
	make -C "$HN_BUILD" -j"$jobs"
	"$HN_BIN" --version >/dev/null || hn_die "$HN_BIN --version failed"
}

# configure --enable-static-binary in _build-static/ and make only the
# program there (the Check suites are built and run in _build/).  After
# hn_build, which ran autoreconf.  Output in _build-static/make.out.
hn_build_static() {
	local jobs
	jobs=$(nproc 2>/dev/null || echo 2)
	mkdir -p "$HN_STATIC_BUILD"
	hn_say "configure --enable-static-binary (in _build-static/)"
	(cd "$HN_STATIC_BUILD" && ../configure -q --enable-static-binary) \
	    >"$HN_STATIC_BUILD/make.out" 2>&1 || return 1
	hn_say "make src/herenow (static)"
	# glibc's link warnings (getaddrinfo, gethostbyname, dlopen want its
	# shared libraries at run time, for names looked up through NSS) are
	# expected: herenow as CGI looks no name up.
	make -C "$HN_STATIC_BUILD" -j"$jobs" src/herenow \
	    >>"$HN_STATIC_BUILD/make.out" 2>&1 || return 1
	"$HN_STATIC_BIN" --version >/dev/null
}

hn_npm() {
	local major
	major=$(node -p 'process.versions.node.split(".")[0]')
	[ "$major" -ge 18 ] ||
	    hn_die "node $(node --version) is too old: the tests need 18 or later"
	hn_say "npm ci (tests/integration)"
	(cd "$HN_ROOT/tests/integration" &&
	    npm ci --no-audit --no-fund --loglevel=error)
}

# Copies template to out with every @KEY@ replaced by the value given as
# KEY=value; fails on a placeholder left over.
hn_fill() {
	local template=$1 out=$2 kv key value text
	shift 2
	# bash 5.2 would put the matched text in for a '&' in a value.
	shopt -u patsub_replacement 2>/dev/null || true
	text=$(cat "$template")
	for kv in "$@"; do
		key=${kv%%=*}
		value=${kv#*=}
		text=${text//@$key@/$value}
	done
	if grep -qo '@HERENOW_[A-Z_]*@' <<<"$text"; then
		hn_die "$template: $(grep -o '@HERENOW_[A-Z_]*@' <<<"$text" |
		    head -1) not filled"
	fi
	printf '%s\n' "$text" >"$out"
}

# Writes a herenow.conf and the lighttpd configuration for a standalone
# lighttpd on 127.0.0.1:port in state directory dir; extra herenow.conf
# lines may follow.  Prints the lighttpd.conf path.
hn_standalone_conf() {
	local dir=$1 port=$2 sock
	shift 2
	mkdir -p "$dir"
	{
		echo "# written by tests/lib.sh"
		echo "db = $dir/herenow.db"
		for line in "$@"; do
			echo "$line"
		done
	} >"$dir/herenow.conf"
	# A unix socket path is at most 107 bytes (with lighttpd's "-N").
	sock=$dir/herenow.sock
	if [ "${#sock}" -gt 90 ]; then
		sock=$(mktemp -d /tmp/herenow-sock.XXXXXX)/herenow.sock
	fi
	hn_fill "$HN_ROOT/conf/lighttpd-herenow.conf.in" \
	    "$dir/lighttpd-herenow.conf" \
	    "HERENOW_BIN=$HN_BIN" "HERENOW_CONFIG=$dir/herenow.conf" \
	    "HERENOW_SOCKET=$sock" "HERENOW_MAX_PROCS=2" \
	    "HERENOW_TUNNEL_SOCKET=${sock%/*}/tunnel.sock" \
	    "HERENOW_WST_ORIGINS=" "HERENOW_WWW=$HN_ROOT/www"
	hn_fill "$HN_ROOT/conf/lighttpd-standalone.conf.in" \
	    "$dir/lighttpd.conf" \
	    "HERENOW_PORT=$port" "HERENOW_DOCROOT=$HN_ROOT/www" \
	    "HERENOW_STATE=$dir" "HERENOW_SNIPPET=$dir/lighttpd-herenow.conf"
	lighttpd -tt -f "$dir/lighttpd.conf" >&2 ||
	    hn_die "lighttpd refuses $dir/lighttpd.conf"
	HERENOW_CONFIG=$dir/herenow.conf "$HN_BIN" --check-config >&2 ||
	    hn_die "herenow refuses $dir/herenow.conf"
	printf '%s\n' "$dir/lighttpd.conf"
}

hn_setup() {
	hn_install_deps
	hn_build
}
