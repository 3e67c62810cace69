#!/usr/bin/env bash
# tests/valgrind.sh: issue 8's leak check.  Every herenow process of a
# scripted session runs under valgrind's memcheck: the FastCGI process
# (lighttpd's bin-path, max-procs 1), the tunnel process (herenow --tunnel,
# mod_wstunnel's bin-path), the FastCGI-upgrade carrier (herenow --listen
# behind tests/integration/fcgi-upgrade-proxy.mjs), one CGI process per
# request kind, and herenow --check-config and top --once.  Real clients
# (tests/integration/harness.mjs: the npm eventsource and ws packages,
# curl) join over SSE and WebSocket, move between pages, watch, leave,
# send beats and a leave, read count, badge.svg, health, metrics and
# stats; then lighttpd stops (and sends its herenow processes SIGTERM) and
# the carrier gets SIGTERM.  Fails unless every valgrind log is complete
# and shows no error and no definitely or indirectly lost byte.  About
# 40 s on two cores.
#
#	tests/valgrind.sh [--build DIR]
#
# Without --build it builds in _build/ as tests/run.sh does.  valgrind is
# installed with apt when missing.  Logs: DIR/valgrind/logs/KIND-PID.log,
# one a process (KIND: fastcgi, tunnel, listen, cgi, check-config, top);
# lighttpd's and herenow's own logs under DIR/valgrind/run/.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# herenow takes every HERENOW_ variable for a config key and refuses one
# it does not know: what a caller exported (tests/run.sh exports
# HERENOW_TEST_DIR and HERENOW_BIN for the integration tests) must not
# reach the processes run here, which get what they need below.
for v in $(compgen -e); do
	case $v in HERENOW_*) unset "$v" ;; esac
done

build=
while [ $# -gt 0 ]; do
	case $1 in
	--build) [ $# -ge 2 ] || hn_die "--build wants a directory"
		build=$2; shift 2 ;;
	*) hn_die "usage: tests/valgrind.sh [--build DIR]" ;;
	esac
done
if [ -z "$build" ]; then
	hn_setup
	build=$HN_BUILD
fi
HN=$(cd "$build" && pwd)/src/herenow
[ -x "$HN" ] || hn_die "no herenow in $build/src (build it first)"
if ! command -v valgrind >/dev/null 2>&1; then
	hn_say "installing valgrind"
	hn_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    --no-install-recommends valgrind
fi
[ -d "$HN_ROOT/tests/integration/node_modules/ws" ] || hn_npm

W=$(cd "$build" && pwd)/valgrind
LOGS=$W/logs
rm -rf "$W"
mkdir -p "$LOGS" "$W/run"

# The herenow the session runs: this wrapper, in every place the binary
# goes (bin-path, herenow.cgi, --listen).  A CGI copy of it finds the
# herenow.conf beside itself, as the binary does (under valgrind the
# binary would look beside the real one).
VG=$W/herenow-vg
cat >"$VG" <<EOF
#!/bin/sh
# herenow under valgrind; the log's name says which kind of process.
kind=fastcgi
if [ -n "\${GATEWAY_INTERFACE:-}" ]; then
	kind=cgi
	if [ -z "\${HERENOW_CONFIG:-}" ] && [ -e "\${0%/*}/herenow.conf" ]; then
		HERENOW_CONFIG=\${0%/*}/herenow.conf
		export HERENOW_CONFIG
	fi
fi
case " \$* " in
*" --tunnel "*) kind=tunnel ;;
*" --listen "*) kind=listen ;;
*" --check-config "*) kind=check-config ;;
" top "*) kind=top ;;
esac
exec '$(command -v valgrind)' --leak-check=full \\
    --show-leak-kinds=definite,indirect \\
    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \\
    --num-callers=30 --log-file='$LOGS/'"\$kind"-%p.log '$HN' "\$@"
EOF
chmod +x "$VG"

start=$(date +%s)
hn_say "valgrind $(valgrind --version), herenow $HN"

# ---- the session ---------------------------------------------------------
# The harness takes its binaries from the environment; its servers stay
# under HERENOW_TEST_DIR.
status=0
(cd "$HN_ROOT/tests/integration" &&
    env HERENOW_BIN="$VG" HERENOW_TEST_DIR="$W/run" VG_LOGS="$LOGS" \
    timeout -k 10 240 node --input-type=module - ) <<'EOF' || status=$?
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import assert from 'node:assert/strict';
import { startServer, waitFor, alive, newVisitor }
    from './harness.mjs';

const execFileP = promisify(execFile);
const TOKEN = 'valgrind-Token_8';
const step = (what) => console.log(`--> ${what}`);
// Under valgrind everything is some 20 times slower.
const T = 30000;

// A response's status, text, and JSON when it is JSON.
async function answer(res) {
	const text = await res.text();
	let json;
	try {
		json = JSON.parse(text);
	} catch {
		json = undefined;
	}
	return { status: res.status, json, text };
}

async function post(url, body, type = 'application/x-www-form-urlencoded') {
	return answer(await fetch(url, { method: 'POST', body,
	    headers: { 'Content-Type': type },
	    signal: AbortSignal.timeout(T) }));
}

async function get(url) {
	return answer(await fetch(url, { signal: AbortSignal.timeout(T) }));
}

async function authed(url) {
	const { stdout } = await execFileP('curl', ['-sS', '--max-time', '30',
	    '-o', '/dev/null', '-w', '%{http_code}',
	    '-H', `Authorization: Bearer ${TOKEN}`, url]);
	return Number(stdout);
}

const server = await startServer({ name: 'valgrind', maxProcs: 1,
    tunnel: 'spawn', cgi: true, upgrade: true,
    // A process under valgrind may miss a heartbeat of the tests' 1 s.
    config: { admin_token: TOKEN, heartbeat: '2s', stale_after: '15s' } });
let failed = false;
try {
	const f = (p) => server.url(`/herenow/${p}`);
	const c = (p) => server.url(`/cgi-bin/herenow.cgi/${p}`);

	step('FastCGI: SSE joins, one watching another page');
	const a = server.reader({ page: '/vg/a' });
	const b = server.reader({ page: '/vg/a', watch: ['/vg/b'] });
	await waitFor(() => a.readers() === 2 && b.readers() === 2, T,
	    'two SSE readers');

	step('tunnel: WebSocket join, page change, watch');
	const w = server.wsReader({ carrier: 'wst', page: '/vg/a' });
	await w.waitOpen(T);
	await waitFor(() => a.readers() === 3 && w.readers() === 3, T,
	    'the tunnel reader counted');
	w.moveTo('/vg/b');
	await waitFor(() => a.readers() === 2 && w.readers('/vg/b') === 1 &&
	    b.readers('/vg/b') === 1, T, 'the tunnel reader moved');
	w.watch(['/vg/a', '/vg/c']);

	step('broadcasts: readers join and leave /vg/a');
	for (let i = 0; i < 4; i++) {
		const r = server.reader({ page: '/vg/a' });
		await waitFor(() => a.readers() === 3 && w.readers('/vg/a') === 3,
		    T, `join ${i} broadcast`);
		r.close();
		await waitFor(() => a.readers() === 2 && w.readers('/vg/a') === 2,
		    T, `leave ${i} broadcast`);
	}

	step('FastCGI upgrade (herenow --listen): WebSocket join, page change, leave');
	const u = server.wsReader({ carrier: 'upgrade', page: '/vg/a' });
	await u.waitOpen(T);
	await waitFor(() => a.readers() === 3 && u.readers() === 3, T,
	    'the upgrade reader counted');
	u.moveTo('/vg/c');
	await waitFor(() => a.readers() === 2 && u.readers('/vg/c') === 1, T,
	    'the upgrade reader moved');
	u.close();
	await u.waitClosed(T);

	step('bad input: a bad page over SSE, the tunnel and the upgrade');
	assert.equal((await get(f('sse?page=nope&visitor=x'))).status, 400);
	for (const carrier of ['wst', 'upgrade']) {
		const bad = server.wsReader({ carrier, page: 'nope' });
		await waitFor(() => bad.errors.length > 0 || bad.closed, T,
		    `the ${carrier} refusal`);
		bad.close();
	}

	step('beat, a second beat, leave (form and JSON bodies)');
	const v = newVisitor('beat');
	const b1 = await post(f('beat'), `page=%2Fvg%2Fd&visitor=${v}`);
	assert.equal(b1.status, 200, b1.text);
	const b2 = await post(f('beat'), JSON.stringify({ page: '/vg/d',
	    visitor: v, sid: b1.json.sid }), 'text/plain;charset=UTF-8');
	assert.equal(b2.status, 200, b2.text);
	const l = await post(f('leave'),
	    `page=%2Fvg%2Fd&visitor=${v}&sid=${b1.json.sid}`);
	assert.ok(l.status < 300, l.text);

	step('count, badge.svg, health, metrics and stats with the token');
	const cnt = await get(f('count?page=/vg/a'));
	assert.equal(cnt.json.readers, 2, cnt.text);
	assert.equal((await get(f('badge.svg?page=/vg/a'))).status, 200);
	assert.equal((await get(f('health'))).status, 200);
	assert.equal(await authed(f('metrics')), 200);
	assert.equal(await authed(f('stats')), 200);
	assert.equal((await get(f('metrics'))).status, 401);

	// One at a time: each CGI process starts valgrind and opens the
	// database, slowly.
	step('CGI: one request of each kind');
	const cv = newVisitor('cgi');
	const cb = await post(c('beat'), `page=%2Fvg%2Fe&visitor=${cv}`);
	assert.equal(cb.status, 200, cb.text);
	const cl = await post(c('leave'),
	    `page=%2Fvg%2Fe&visitor=${cv}&sid=${cb.json.sid}`);
	assert.ok(cl.status < 300, cl.text);
	const cc = await get(c('count?page=/vg/a'));
	assert.equal(cc.json.readers, 2, cc.text);
	assert.equal((await get(c('badge.svg?page=/vg/a'))).status, 200);
	assert.equal((await get(c('health'))).status, 200);
	await authed(c('metrics'));
	await authed(c('stats'));
	const cs = server.reader({ page: '/vg/e', via: 'cgi' });
	await waitFor(() => cs.readers() === 1, T, 'the CGI SSE reader');
	const cw = server.wsReader({ carrier: 'cgi', page: '/vg/e' });
	await waitFor(() => cs.readers() === 2 && cw.readers() === 2, T,
	    'the CGI WebSocket reader');

	step('leaves: every reader closes');
	for (const r of [a, b, w, cs, cw])
		r.close();
	await waitFor(async () => {
		const r = await get(f('count?page=/vg/a'));
		return r.json && r.json.readers === 0;
	}, T, '/vg/a back to 0');
	// The CGI SSE process learns that its reader left at its next
	// write (every second), then exits after leave_grace: lighttpd
	// must not be the one to end it.
	const cgiLeft = () => fs.readdirSync(process.env.VG_LOGS)
	    .map((f) => /^cgi-(\d+)\.log$/.exec(f)).filter(Boolean)
	    .map((m) => Number(m[1])).filter(alive);
	await waitFor(() => cgiLeft().length === 0, T,
	    'the CGI processes to exit', () => `${cgiLeft()}`);
} catch (err) {
	failed = true;
	console.error(err);
	console.error(server.log());
} finally {
	step('stop: SIGTERM to the carrier, lighttpd stops its herenow processes');
	const pids = server.noteChildren();
	try {
		await server.stopUpgradeProgram(T);
	} catch (err) {
		failed = true;
		console.error(`herenow --listen: ${err.message}`);
	}
	if (server.proc && !server.exited) {
		server.proc.kill('SIGTERM');
		try {
			await waitFor(() => server.exited &&
			    pids.every((p) => !alive(p)), T,
			    'lighttpd and its herenow processes to exit');
		} catch (err) {
			failed = true;
			console.error(err.message);
		}
	}
	await server.stop();
}
process.exit(failed ? 1 : 0);
EOF
[ "$status" -eq 0 ] || hn_say "the session failed (exit $status)"

# The maintenance commands on the session's database.
confs=("$W"/run/valgrind-*/herenow.conf)
if [ -e "${confs[0]}" ]; then
	db=$(sed -n 's/^db = //p' "${confs[0]}")
	for args in "--check-config --config ${confs[0]}" "top --once --db $db"
	do
		# shellcheck disable=SC2086
		if ! "$VG" $args >"$W/cmd.out" 2>&1; then
			hn_say "herenow $args failed:"
			sed 's/^/    | /' "$W/cmd.out"
			status=1
		fi
	done
fi

# Every valgrind'd process must be gone before its log is read (a CGI
# process ends a moment after its request).
for _ in $(seq 300); do
	busy=0
	for log in "$LOGS"/*.log; do
		pid=${log##*-}
		kill -0 "${pid%.log}" 2>/dev/null && busy=1
	done
	[ "$busy" -eq 0 ] && break
	sleep 0.1
done

# ---- the verdict -----------------------------------------------------------
lost() {
	sed -n "s/.*$1 lost: \([0-9,]*\) bytes.*/\1/p" "$2" | tr -d , | tail -1
}
n=0
bad=0
for log in "$LOGS"/*.log; do
	[ -e "$log" ] || continue
	n=$((n + 1))
	name=${log##*/}
	name=${name%.log}
	errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$log" |
	    tr -d , | tail -1)
	def=$(lost definitely "$log")
	ind=$(lost indirectly "$log")
	pos=$(lost possibly "$log")
	verdict=ok
	if [ -z "$errors" ]; then
		verdict="INCOMPLETE (no ERROR SUMMARY: killed?)"
	elif [ "$errors" != 0 ] || [ "${def:-0}" != 0 ] ||
	    [ "${ind:-0}" != 0 ]; then
		verdict=FAILED
	fi
	printf 'valgrind %-12s pid=%-7s errors=%s definitely=%s indirectly=%s possibly=%s %s\n' \
	    "${name%-*}" "${name##*-}" "${errors:--}" "${def:-0}" \
	    "${ind:-0}" "${pos:-0}" "$verdict"
	if [ "$verdict" != ok ]; then
		bad=$((bad + 1))
		sed 's/^/    | /' "$log" | head -150
	fi
done
# Every kind of process must have run (CGI: sse, ws, beat, leave, count,
# badge.svg, health, metrics, stats).
for want in fastcgi:1 tunnel:1 listen:1 cgi:9 check-config:1 top:1; do
	got=$(find "$LOGS" -name "${want%:*}-*.log" | wc -l)
	if [ "$got" -lt "${want#*:}" ]; then
		hn_say "only $got ${want%:*} process(es) under valgrind," \
		    "${want#*:} expected"
		bad=$((bad + 1))
	fi
done
hn_say "$n valgrind logs, $bad problem(s), $(($(date +%s) - start)) s"
[ "$status" -eq 0 ] && [ "$bad" -eq 0 ]
