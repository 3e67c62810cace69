#!/bin/sh
# tests/fuzz/run.sh: what `make fuzz` runs in an --enable-fuzz build.  Each
# libFuzzer target runs for SECONDS on a scratch copy of its seed corpus
# (tests/fuzz/corpus/NAME, which gets no generated inputs), in
# BUILD/tests/fuzz/work/NAME/ where its log, grown corpus and any crash
# stay for a look.  Fails when a target finds a crash, leak or timeout.
#
# usage: run.sh SECONDS JOBS SRCDIR BUILDDIR NAME...

set -u

if [ $# -lt 5 ]; then
	echo "usage: $0 SECONDS JOBS SRCDIR BUILDDIR NAME..." >&2
	exit 2
fi
secs=$1
jobs=$2
src=$3
build=$4
shift 4

# The longest input worth trying: a little past each parser's bound, so
# that the bound itself is exercised, and no more (longer inputs only
# slow the search down).
max_len() {
	case $1 in
	page)	echo 2100 ;;	# raw key 1024 bytes, then a watch list
	config)	echo 4096 ;;
	fcgi)	echo 4096 ;;
	msg)	echo 9000 ;;	# a message 4096 bytes, the tunnel's window too
	ws)	echo 9000 ;;	# a frame 4096 + 14 bytes
	query)	echo 5000 ;;	# a query 4096 bytes
	json)	echo 4200 ;;	# a body 4096 bytes
	route)	echo 9000 ;;	# a query and a body, 4096 bytes each
	*)	echo 4096 ;;
	esac
}

# The dictionary of tokens a target gets, if any.
dict_of() {
	case $1 in
	page|query|route)	echo route.dict ;;
	*)			echo "" ;;
	esac
}

# Runs one target; leaves a one-line verdict in its work directory.
fuzz_one() {
	name=$1
	bin=$build/tests/fuzz/fuzz_$name
	work=$build/tests/fuzz/work/$name
	rm -rf "$work"
	mkdir -p "$work/corpus"
	if [ ! -x "$bin" ]; then
		echo "FAIL $name: no $bin" >"$work/verdict"
		return
	fi
	seeds=0
	if [ -d "$src/tests/fuzz/corpus/$name" ]; then
		cp "$src/tests/fuzz/corpus/$name"/* "$work/corpus/" 2>/dev/null
		seeds=$(ls "$work/corpus" | wc -l)
	fi
	dict=$(dict_of "$name")
	dict=${dict:+$src/tests/fuzz/$dict}
	"$bin" -max_total_time="$secs" -max_len="$(max_len "$name")" \
	    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    ${dict:+-dict="$dict"} -artifact_prefix="$work/" "$work/corpus" \
	    >"$work/log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" |
	    tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -1 | cut -d' ' -f2)
	grown=$(ls "$work/corpus" | wc -l)
	found=$(ls "$work" | grep -E '^(crash|leak|timeout|oom)-' | head -1)
	if [ "$rc" -ne 0 ] || [ -n "$found" ]; then
		echo "FAIL $name: exit $rc after ${execs:-?} execs;" \
		    "${found:+reproduce: $bin $work/$found;} log: $work/log" \
		    >"$work/verdict"
	else
		printf 'ok   %-6s %10s execs in %ss (%s/s), cov %s, corpus %s -> %s\n' \
		    "$name" "${execs:-?}" "$secs" \
		    "$(( ${execs:-0} / (secs > 0 ? secs : 1) ))" "${cov:-?}" \
		    "$seeds" "$grown" >"$work/verdict"
	fi
}

echo "fuzzing $* for ${secs}s each, $jobs at a time (logs: $build/tests/fuzz/work/)"
running=0
for name in "$@"; do
	fuzz_one "$name" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait
		running=0
	fi
done
wait

status=0
for name in "$@"; do
	verdict=$(cat "$build/tests/fuzz/work/$name/verdict" 2>/dev/null ||
	    echo "FAIL $name: no verdict")
	echo "$verdict"
	case $verdict in
	ok*) ;;
	*)
		status=1
		tail -25 "$build/tests/fuzz/work/$name/log" 2>/dev/null |
		    sed 's/^/    | /'
		;;
	esac
done
[ "$status" -eq 0 ] && echo "make fuzz: no target found anything" ||
    echo "make fuzz: a target failed (see above)"
exit "$status"
