#!/usr/bin/env bash
# tests/run.sh: installs what is missing, builds herenow, runs every test
# suite (the Check suites through `make check`, then the integration tests
# against a real lighttpd), and ends with one line "N passed, N failed"
# summing them all.  Exits non-zero on any failure.
# Logs: _build/tests/*.log and _build-san/tests/*.log (Check, plain and with
# ASan+UBSan), _build-static/make.out (the static herenow the shared-hosting
# tests run), _build/integration/ (lighttpd, herenow), _build/valgrind.out
# and _build/valgrind/ (tests/valgrind.sh).

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

hn_setup
hn_npm

passed=0
failed=0
jobs=$(nproc 2>/dev/null || echo 2)

# ---- Check suites -------------------------------------------------------
# Each suite prints "NN%: Checks: C, Failures: F, Errors: E"; automake's
# driver keeps it in tests/<suite>.log and the verdict in tests/<suite>.trs.
# run_checks BUILD_DIR LABEL: make check there, add up the suites.
run_checks() {
	local build=$1 label=$2 check_status=0 suites=0 trs log name result
	local line c f e
	hn_say "make check ($label)"
	rm -f "$build"/tests/*.log "$build"/tests/*.trs \
	    "$build"/tests/fuzz/*.log "$build"/tests/fuzz/*.trs
	make -C "$build" -j"$jobs" check >"$build/make-check.out" 2>&1 ||
	    check_status=$?
	# The Check suites, then the fuzz corpora replayed (one test each).
	for trs in "$build"/tests/*.trs "$build"/tests/fuzz/*.trs; do
		[ -e "$trs" ] || continue
		suites=$((suites + 1))
		log=${trs%.trs}.log
		name="$(basename "${trs%.trs}") ($label)"
		result=$(sed -n 's/^:test-result: //p' "$trs" | head -1)
		line=$(grep -E '^[0-9]+%: Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' \
		    "$log" 2>/dev/null | tail -1 || true)
		if [ -n "$line" ]; then
			read -r c f e < <(sed -E \
			    's/^[0-9]+%: Checks: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2 \3/' \
			    <<<"$line")
			passed=$((passed + c - f - e))
			failed=$((failed + f + e))
			# A suite that counted no failure but still failed (a
			# sanitizer report at exit, a crash after the summary).
			if [ "$result" != PASS ] && [ "$result" != SKIP ] &&
			    [ $((f + e)) -eq 0 ]; then
				failed=$((failed + 1))
			fi
			printf '  %-36s %s (%s)\n' "$name" "$result" "$line"
		else
			case $result in
			PASS) passed=$((passed + 1)) ;;
			SKIP) ;;
			*) failed=$((failed + 1)) ;;
			esac
			printf '  %-36s %s (no Check summary; see %s)\n' \
			    "$name" "$result" "$log"
		fi
		if [ "$result" != PASS ] && [ "$result" != SKIP ]; then
			sed 's/^/    | /' "$log" | tail -40
		fi
	done
	if [ "$check_status" -ne 0 ] && { [ "$suites" -eq 0 ] ||
	    [ "$failed" -eq 0 ]; }; then
		# The suites did not even build, or make failed otherwise.
		tail -40 "$build/make-check.out"
		failed=$((failed + 1))
	fi
}

run_checks "$HN_BUILD" plain

# The same suites once more built with ASan and UBSan (STYLE: CI runs the
# suite at least once with sanitizers), in a build directory of their own.
HN_SAN_BUILD=$HN_ROOT/_build-san
mkdir -p "$HN_SAN_BUILD"
hn_say "configure --enable-sanitizers (in _build-san/)"
(cd "$HN_SAN_BUILD" && ../configure -q --enable-sanitizers) &&
    make -C "$HN_SAN_BUILD" -j"$jobs" >"$HN_SAN_BUILD/make.out" 2>&1 ||
    { tail -40 "$HN_SAN_BUILD/make.out"; failed=$((failed + 1)); }
run_checks "$HN_SAN_BUILD" sanitizers

# The statically linked herenow (configure --enable-static-binary), which
# cgi-hosting.test.mjs runs as herenow.cgi; a failed build is one failure
# (and those tests then fail for want of it).
rm -f "$HN_STATIC_BIN"
hn_build_static ||
    { tail -40 "$HN_STATIC_BUILD/make.out"; failed=$((failed + 1)); }

# ---- integration tests --------------------------------------------------
export HERENOW_BIN=$HN_BIN
export HERENOW_STATIC_BIN=$HN_STATIC_BIN
export HERENOW_TEST_DIR=$HN_BUILD/integration
rm -rf "$HERENOW_TEST_DIR"
mkdir -p "$HERENOW_TEST_DIR"

for t in "$HN_ROOT"/tests/integration/*.test.mjs; do
	name=$(basename "$t" .test.mjs)
	out=$HERENOW_TEST_DIR/$name.tap
	hn_say "integration: $name"
	status=0
	(cd "$HN_ROOT/tests/integration" &&
	    timeout -k 10 900 node --test --test-reporter=tap "$t") \
	    >"$out" 2>&1 || status=$?
	grep -E '^(not )?ok [0-9]+ ' "$out" | sed 's/^/  /' || true
	p=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$out" | tail -1)
	f=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$out" | tail -1)
	c=$(sed -n 's/^# cancelled \([0-9]*\)$/\1/p' "$out" | tail -1)
	p=${p:-0} f=${f:-0} c=${c:-0}
	passed=$((passed + p))
	failed=$((failed + f + c))
	if [ "$status" -ne 0 ] && [ $((f + c)) -eq 0 ]; then
		failed=$((failed + 1))	# died without a verdict
	fi
	if [ "$status" -ne 0 ]; then
		sed 's/^/    | /' "$out" | tail -80
	fi
done

# valgrind over a scripted session of every kind of herenow process
# (tests/valgrind.sh, about 40 s): one test, passed or failed.
hn_say "valgrind: a scripted session, every herenow process under memcheck"
if bash "$HN_ROOT/tests/valgrind.sh" --build "$HN_BUILD" \
    >"$HN_BUILD/valgrind.out" 2>&1; then
	passed=$((passed + 1))
	tail -3 "$HN_BUILD/valgrind.out" | sed 's/^/  /'
else
	failed=$((failed + 1))
	tail -60 "$HN_BUILD/valgrind.out" | sed 's/^/    | /'
fi

# Whatever a test left running (it should not): its lighttpd by pid file.
for pidfile in "$HERENOW_TEST_DIR"/*/lighttpd.pid; do
	[ -e "$pidfile" ] || continue
	pid=$(cat "$pidfile")
	if [ -n "$pid" ] && grep -q lighttpd "/proc/$pid/cmdline" 2>/dev/null
	then
		kill "$pid" 2>/dev/null || true
	fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
