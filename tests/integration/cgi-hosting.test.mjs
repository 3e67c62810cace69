// Shared hosting (README "Shared hosting"): the statically linked herenow
// (configure --enable-static-binary) copied as cgi-bin/herenow.cgi with its
// herenow.conf beside it, behind a lighttpd with mod_cgi (and the one
// mod_rewrite line for the widget's paths) and no fastcgi.server at all.
// One process per reader, every one counted in the same session table, and
// with FastCGI processes on that table too.

import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { EventSource } from 'eventsource';
import WebSocket from 'ws';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import {
	startServer, herenowStaticBin, repo, waitFor, holdFor, curl, ms, alive,
	wsSummary, liveSessions, newVisitor,
} from './harness.mjs';

const execFileP = promisify(execFile);

// A short leave_grace (300ms) so that "closing readers update the others
// within 2 s + leave_grace" stays a tight bound; heartbeat 1s and
// stale_after 3s (the harness's) for the reaping of a killed process.
const config = { leave_grace: '300ms' };
const carrier = 'cgi';

// What README "Shared hosting" asks of the host for the widget: herenow.js
// finds the endpoints beside its own URL, so /herenow/NAME goes to
// herenow.cgi.  The alias stands in for the herenow.js a user uploads as
// herenow/herenow.js under the site's root.
const widgetRewrite = String.raw`
server.modules += ( "mod_rewrite" )
url.rewrite-once = ( "^/herenow/(ws|sse|count|beat|leave|badge\.svg|health)(\?.*)?$" => "/cgi-bin/herenow.cgi/$1$2" )
`;
const widgetAlias = `
$HTTP["url"] == "/herenow/herenow.js" {
	alias.url = ( "/herenow/herenow.js" => "${repo}/www/herenow.js" )
}
`;

let server;		// lighttpd with mod_cgi only
let fcgi;		// a FastCGI lighttpd on the same database, when started
before(async () => {
	if (!fs.existsSync(herenowStaticBin))
		throw new Error(`no static herenow at ${herenowStaticBin}: ` +
		    'configure --enable-static-binary in _build-static/ and ' +
		    'make src/herenow there (tests/run.sh does), or set ' +
		    'HERENOW_STATIC_BIN');
	server = await startServer({ name: 'cgi-hosting', cgi: true,
	    fastcgi: false, cgiBin: herenowStaticBin, config,
	    lighttpdExtra: widgetRewrite + widgetAlias });
});
afterEach(() => {
	// A failed test must not leave its readers in the next one's counts.
	server?.closeReaders();
	fcgi?.closeReaders();
});
after(async () => {
	await fcgi?.stop();
	await server?.stop();
});

const cgiProcs = () => server.childrenOf('cgi');

// Each test counts processes and readers from zero: the last test's
// processes (which linger leave_grace after their reader) must be gone.
async function noCgiLeft() {
	await waitFor(() => cgiProcs().length === 0, 10000,
	    'no herenow.cgi process left from before',
	    () => `herenow.cgi processes: ${cgiProcs()}`);
	await waitFor(async () => (await server.sql('SELECT count(*) AS n ' +
	    'FROM sessions WHERE ended IS NULL'))[0].n === 0, 10000,
	    'no live session left from before');
}

function allSee(readers, n, deadlineMs, what = '') {
	return waitFor(() => readers.every((r) => r.readers() === n &&
	    r.count().tabs === n), deadlineMs,
	    `every reader${what} to show ${n} readers and ${n} tabs`,
	    () => wsSummary(readers));
}

// The pid of the herenow process holding a visitor's live session.
async function pidOf(visitor) {
	const rows = await server.sql('SELECT o.pid AS pid FROM sessions s ' +
	    'JOIN owners o ON o.id = s.owner WHERE s.ended IS NULL AND ' +
	    `s.visitor = '${visitor}'`);
	assert.equal(rows.length, 1, `one live session of ${visitor}`);
	return rows[0].pid;
}

// PT_INTERP in the ELF program headers: the dynamic loader a binary asks
// for.  A static binary has none, so it needs no shared library at all.
function elfInterpreter(file) {
	const b = fs.readFileSync(file);
	assert.equal(b.toString('latin1', 0, 4), '\x7fELF', `${file} is ELF`);
	const is64 = b[4] === 2;
	assert.equal(b[5], 1, 'little-endian ELF');
	const phoff = is64 ? Number(b.readBigUInt64LE(0x20)) : b.readUInt32LE(0x1c);
	const phentsize = b.readUInt16LE(is64 ? 0x36 : 0x2a);
	const phnum = b.readUInt16LE(is64 ? 0x38 : 0x2c);
	for (let i = 0; i < phnum; i++) {
		const ph = phoff + i * phentsize;
		if (b.readUInt32LE(ph) !== 3)
			continue;
		const off = is64 ? Number(b.readBigUInt64LE(ph + 8)) :
		    b.readUInt32LE(ph + 4);
		const size = is64 ? Number(b.readBigUInt64LE(ph + 32)) :
		    b.readUInt32LE(ph + 16);
		return b.toString('latin1', off, off + size).replace(/\0+$/, '');
	}
	return null;
}

test('the static binary: ldd says not dynamic, and as herenow.cgi behind mod_cgi alone it answers health',
    { timeout: 30000 }, async () => {
	let out;
	try {
		const r = await execFileP('ldd', [herenowStaticBin]);
		out = r.stdout + r.stderr;
	} catch (err) {
		// glibc's ldd exits 1 on a static binary.
		out = `${err.stdout}${err.stderr}`;
	}
	assert.match(out, /not a dynamic executable/, `ldd: ${out}`);
	assert.equal(elfInterpreter(herenowStaticBin), null,
	    'the static binary names a dynamic loader');

	// What the server runs is that very file, and lighttpd has no
	// FastCGI (nor tunnel) here: only mod_cgi.
	const cgi = path.join(server.cgiDir, 'herenow.cgi');
	assert.ok(fs.readFileSync(cgi).equals(fs.readFileSync(herenowStaticBin)),
	    'herenow.cgi is the static binary');
	const conf = fs.readFileSync(server.snippet, 'utf8');
	assert.match(conf, /^\s*cgi\.assign\b/m);
	assert.doesNotMatch(conf, /fastcgi\.server|wstunnel\.server/);
	const health = await curl(server.endpoint('health', 'cgi'));
	assert.equal(health.status, 200, health.body);
	assert.equal(health.json?.status, 'ok', health.body);
	assert.deepEqual(server.childrenOf('fastcgi'), []);
	assert.deepEqual(server.childrenOf('tunnel'), []);
});

test('10 SSE and 5 WebSocket readers on one page: every one sees exactly 15',
    { timeout: 60000 }, async () => {
	await noCgiLeft();
	const page = '/shared/fifteen';
	const sse = Array.from({ length: 10 }, () =>
	    server.reader({ page, via: 'cgi' }));
	const ws = Array.from({ length: 5 }, () =>
	    server.wsReader({ carrier, page }));
	const all = [...sse, ...ws];
	await allSee(all, 15, 20000);
	// Never more than there are, and it stays at 15.
	await holdFor(() => {
		for (const r of all)
			assert.equal(r.readers(), 15, wsSummary(all));
	}, 1000);
	for (const r of all) {
		assert.ok(r.history.every((h) => h.count.readers <= 15 &&
		    h.count.tabs <= 15), 'a count above the readers there are');
	}
	for (const r of ws)
		assert.deepEqual(r.errors, []);

	// One process, one owner, one session per reader.
	assert.equal(cgiProcs().length, 15, `herenow.cgi: ${cgiProcs()}`);
	const rows = await server.sql('SELECT count(*) AS n, ' +
	    'count(DISTINCT owner) AS owners FROM sessions WHERE ' +
	    `ended IS NULL AND page = '${page}'`);
	assert.deepEqual(rows[0], { n: 15, owners: 15 });
	const pids = (await server.sql('SELECT pid FROM owners'))
	    .map((o) => o.pid);
	for (const pid of cgiProcs())
		assert.ok(pids.includes(pid), `process ${pid} is no owner`);

	// The short answers from the same program agree.
	const q = `?page=${encodeURIComponent(page)}`;
	const count = await curl(server.endpoint(`count${q}`, 'cgi'));
	assert.equal(count.json?.readers, 15, count.body);
	assert.equal(count.json?.tabs, 15, count.body);
	const badge = await curl(server.endpoint(`badge.svg${q}`, 'cgi'));
	assert.match(badge.body, /<title>15 reading now<\/title>/);
});

test('closing readers ends their processes, and the others see the new count within 2 s + leave_grace',
    { timeout: 60000 }, async (t) => {
	await noCgiLeft();
	const page = '/shared/leave';
	const grace = ms(server.config.leave_grace);
	const sse = Array.from({ length: 6 }, () =>
	    server.reader({ page, via: 'cgi' }));
	const ws = Array.from({ length: 4 }, () =>
	    server.wsReader({ carrier, page }));
	await allSee([...sse, ...ws], 10, 20000);
	await waitFor(() => cgiProcs().length === 10, 10000,
	    'ten herenow.cgi processes', () => `${cgiProcs()}`);

	// Three SSE readers go, one WebSocket with a close frame, one cut
	// off without one.
	const going = [...sse.slice(0, 3), ...ws.slice(0, 2)];
	const staying = [...sse.slice(3), ...ws.slice(2)];
	const pids = await Promise.all(going.map((r) => pidOf(r.visitor)));
	const kept = await Promise.all(staying.map((r) => pidOf(r.visitor)));
	const t0 = Date.now();
	for (const r of sse.slice(0, 3))
		r.close();
	ws[0].close();
	ws[1].terminate();

	// lighttpd notices a gone SSE reader at its next write (the CGI
	// heartbeat comes every second): SIGTERM, the session ends, the
	// process lingers leave_grace and exits.  Slack: polling, the
	// broadcast interval and a loaded machine.
	const limit = 2000 + grace;
	const slack = 1000;
	await allSee(staying, 5, limit + slack, ' left');
	const seen = Date.now() - t0;
	await waitFor(() => pids.every((pid) => !alive(pid)), limit + slack -
	    (Date.now() - t0), `the processes of the five who left to end ` +
	    `within ${limit} + ${slack} ms`, () => `alive: ${
	    pids.filter(alive)}`);
	const ended = Date.now() - t0;
	t.diagnostic(`count updated after ${seen} ms, processes ended after ` +
	    `${ended} ms (limit ${limit} + ${slack} ms)`);
	assert.ok(kept.every(alive), 'a staying reader\'s process ended');
	assert.equal(cgiProcs().length, 5, `herenow.cgi: ${cgiProcs()}`);
	for (const r of going)
		assert.deepEqual(await liveSessions(server, r.visitor), []);
	await holdFor(() => {
		for (const r of staying)
			assert.equal(r.readers(), 5, wsSummary(staying));
	}, 500);
});

test('a herenow.cgi killed with SIGKILL: its reader is reaped within stale_after + heartbeat',
    { timeout: 60000 }, async (t) => {
	await noCgiLeft();
	const page = '/shared/killed';
	const stay = [server.reader({ page, via: 'cgi' }),
	    server.reader({ page, via: 'cgi' }),
	    server.wsReader({ carrier, page })];
	// The victims: an SSE reader that must not come back, and a
	// WebSocket one.
	const victims = [server.reader({ page, via: 'cgi', reconnect: false }),
	    server.wsReader({ carrier, page })];
	await allSee([...stay, ...victims], 5, 20000);
	const pids = await Promise.all(victims.map((r) => pidOf(r.visitor)));
	const owners = await server.sql('SELECT DISTINCT owner FROM sessions ' +
	    'WHERE ended IS NULL AND visitor IN (' +
	    victims.map((r) => `'${r.visitor}'`).join(',') + ')');
	assert.equal(owners.length, 2);

	const killedAt = Date.now();
	for (const pid of pids)
		process.kill(pid, 'SIGKILL');
	await waitFor(() => pids.every((pid) => !alive(pid)), 5000,
	    `processes ${pids} to die`);
	// Their readers lose their streams (lighttpd ends the response).
	await waitFor(() => victims[0].closed && victims[1].closed, 10000,
	    'the killed processes\' readers to lose their streams');

	// Nobody said goodbye: the others reap the dead owners' sessions.
	const limit = ms(server.config.stale_after) +
	    ms(server.config.heartbeat);
	const slack = 2000;
	await allSee(stay, 3, limit + slack - (Date.now() - killedAt),
	    ` left within stale_after + heartbeat (${limit} ms) + ${slack} ms`);
	t.diagnostic(`reaped after ${Date.now() - killedAt} ms ` +
	    `(limit ${limit} + ${slack} ms)`);
	const left = await server.sql('SELECT count(*) AS n FROM sessions ' +
	    'WHERE owner IN (' + owners.map((o) => `'${o.owner}'`).join(',') +
	    ')');
	assert.equal(left[0].n, 0, 'the killed owners\' sessions are reaped');
	for (const r of stay)
		assert.equal(r.closed, false, 'a survivor lost its stream');
	assert.equal(cgiProcs().length, 3, `herenow.cgi: ${cgiProcs()}`);
});

test('FastCGI and CGI processes on one database agree on every count',
    { timeout: 60000 }, async () => {
	await noCgiLeft();
	// A second lighttpd, with two FastCGI herenow processes, on the CGI
	// server's database file.
	fcgi = await startServer({ name: 'cgi-hosting-fcgi', maxProcs: 2,
	    db: server.db, config });
	assert.equal(fcgi.db, server.db);
	const page = '/shared/mixed';
	const join = [
		() => fcgi.reader({ page }),
		() => server.reader({ page, via: 'cgi' }),
		() => server.wsReader({ carrier, page }),
		() => fcgi.reader({ page }),
		() => server.reader({ page, via: 'cgi' }),
		() => fcgi.reader({ page }),
		() => server.wsReader({ carrier, page }),
		() => fcgi.reader({ page }),
	];
	const all = [];
	for (const open of join) {
		all.push(open());
		await allSee(all, all.length, 10000, ' after a join');
	}
	const n = all.length;
	const both = await waitFor(async () => {
		const owners = await server.sql('SELECT pid FROM owners');
		const pids = owners.map((o) => o.pid);
		return fcgi.children().some((p) => pids.includes(p)) &&
		    cgiProcs().some((p) => pids.includes(p));
	}, 10000, 'owners of both kinds in the table');
	assert.ok(both);
	// The whole site is this page now: everyone agrees on it too.
	await waitFor(() => all.every((r) => r.count().site === n), 10000,
	    `every reader to show site ${n}`, () => wsSummary(all));
	const q = `count?page=${encodeURIComponent(page)}`;
	for (const url of [fcgi.endpoint(q), server.endpoint(q, 'cgi')]) {
		const c = await curl(url);
		assert.deepEqual([c.json?.readers, c.json?.tabs, c.json?.site],
		    [n, n, n], `${url}: ${c.body}`);
	}

	// Leaves from either side, one at a time: each time every reader
	// left shows the exact new total.
	const gone = new Set();
	for (const i of [0, 1, 2, 4, 5, 6]) {
		all[i].close();
		gone.add(i);
		const left = all.filter((r, j) => !gone.has(j));
		await allSee(left, left.length, 10000, ' after a leave');
	}
});

test('the widget\'s endpoints beside /herenow/herenow.js reach herenow.cgi through one rewrite',
    { timeout: 60000 }, async () => {
	await noCgiLeft();
	const js = await curl(server.url('/herenow/herenow.js'));
	assert.equal(js.status, 200);
	assert.match(js.type, /javascript/);
	// An SSE and a WebSocket reader on the URLs herenow.js opens.
	const page = '/shared/widget';
	const at = (name) => server.url(`/herenow/${name}`);
	const seen = { sse: null, ws: null };
	const es = new EventSource(at('sse?' + new URLSearchParams({ page,
	    visitor: newVisitor('widget') })));
	es.addEventListener('count', (ev) => { seen.sse = JSON.parse(ev.data); });
	const ws = new WebSocket(at('ws').replace(/^http/, 'ws'),
	    { origin: server.origin });
	ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', page,
	    visitor: newVisitor('widget') })));
	ws.on('message', (d) => {
		for (const line of String(d).split('\n').filter(Boolean))
			seen.ws = JSON.parse(line);
	});
	ws.on('error', () => { /* shown by the wait below */ });
	try {
		await waitFor(() => seen.sse?.readers === 2 &&
		    seen.ws?.readers === 2, 10000, 'both to see 2 through /herenow/',
		    () => JSON.stringify(seen));
		const q = `?page=${encodeURIComponent(page)}`;
		const count = await curl(at(`count${q}`));
		assert.equal(count.json?.readers, 2, count.body);
		const badge = await curl(at(`badge.svg${q}`));
		assert.match(badge.body, /<title>2 reading now<\/title>/);
		assert.equal(cgiProcs().length, 2, `herenow.cgi: ${cgiProcs()}`);
	} finally {
		ws.terminate();
		es.close();
	}
});

test('without cgi.upgrade: SSE, beat, count and the badge work; ws answers 400',
    { timeout: 60000 }, async () => {
	const plain = await startServer({ name: 'cgi-hosting-noupgrade',
	    cgi: true, fastcgi: false, cgiBin: herenowStaticBin,
	    cgiUpgrade: false, config });
	try {
		assert.doesNotMatch(fs.readFileSync(plain.snippet, 'utf8'),
		    /cgi\.upgrade/);
		const page = '/shared/plain';
		const sse = [1, 2].map(() => plain.reader({ page, via: 'cgi' }));
		await allSee(sse, 2, 10000);
		const { stdout } = await execFileP('curl', ['-sS', '--max-time',
		    '10', '-X', 'POST', '--data-binary',
		    `page=${encodeURIComponent(page)}&visitor=beat-plain`,
		    plain.endpoint('beat', 'cgi')]);
		const beat = JSON.parse(stdout);
		assert.equal(beat.readers, 3, stdout);
		assert.equal(typeof beat.sid, 'string', stdout);
		await allSee(sse, 3, 10000, ' after the beat');
		const q = `?page=${encodeURIComponent(page)}`;
		const count = await curl(plain.endpoint(`count${q}`, 'cgi'));
		assert.equal(count.json?.readers, 3, count.body);
		const badge = await curl(plain.endpoint(`badge.svg${q}`, 'cgi'));
		assert.match(badge.body, /<title>3 reading now<\/title>/);
		// lighttpd strips the Upgrade header: herenow sees a plain GET.
		const ws = plain.wsReader({ carrier, page });
		await waitFor(() => ws.refused || ws.opened, 10000, 'an answer');
		assert.equal(ws.opened, false, 'a WebSocket without cgi.upgrade');
		assert.equal(ws.refused.status, 400, ws.refused.body);
		assert.equal(ws.refused.json?.type, 'error', ws.refused.body);
	} finally {
		await plain.stop();
	}
});
