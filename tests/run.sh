#!/usr/bin/env bash
# tests/run.sh: installs what is missing, builds herenow, runs every test
# suite (the Check suites through `make check`, then the integration tests
# against a real lighttpd), and ends with one line "N passed, N failed"
# summing them all.  Exits non-zero on any failure.
# Logs: _build/tests/*.log (Check), _build/integration/ (lighttpd, herenow).

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

hn_setup
hn_npm

passed=0
failed=0
jobs=$(nproc 2>/dev/null || echo 2)

# ---- Check suites -------------------------------------------------------
# Each suite prints "NN%: Checks: C, Failures: F, Errors: E"; automake's
# driver keeps it in tests/<suite>.log and the verdict in tests/<suite>.trs.
hn_say "make check"
rm -f "$HN_BUILD"/tests/*.log "$HN_BUILD"/tests/*.trs
check_status=0
make -C "$HN_BUILD" -j"$jobs" check >"$HN_BUILD/make-check.out" 2>&1 ||
    check_status=$?
grep -E '^(PASS|FAIL|ERROR|XFAIL|XPASS|SKIP):' "$HN_BUILD/make-check.out" ||
    true

suites=0
for trs in "$HN_BUILD"/tests/*.trs; do
	[ -e "$trs" ] || continue
	suites=$((suites + 1))
	log=${trs%.trs}.log
	name=$(basename "${trs%.trs}")
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
		printf '  %-22s %s (%s)\n' "$name" "$result" "$line"
	else
		case $result in
		PASS) passed=$((passed + 1)) ;;
		SKIP) ;;
		*) failed=$((failed + 1)) ;;
		esac
		printf '  %-22s %s (no Check summary; see %s)\n' "$name" \
		    "$result" "$log"
	fi
	if [ "$result" != PASS ] && [ "$result" != SKIP ]; then
		sed 's/^/    | /' "$log" | tail -40
	fi
done
if [ "$check_status" -ne 0 ] && [ "$suites" -eq 0 ]; then
	# The suites did not even build.
	tail -40 "$HN_BUILD/make-check.out"
	failed=$((failed + 1))
fi
if [ "$check_status" -ne 0 ] && [ "$failed" -eq 0 ]; then
	tail -40 "$HN_BUILD/make-check.out"
	failed=$((failed + 1))
fi

# ---- integration tests --------------------------------------------------
export HERENOW_BIN=$HN_BIN
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
