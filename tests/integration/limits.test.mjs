// Bounds a process holds: past max_pages distinct pages or max_streams held
// streams, a new stream gets 503 with a JSON error and nothing is stored.
// Then the bounds on clients (issue 8): held streams per client address
// (X-Forwarded-For believed from trusted_proxies only), live sessions per
// visitor, origins on SSE, beat and leave; each refusal is counted in
// metrics by reason and stores nothing.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer, waitFor, curl, newVisitor, WsReader, jsonOf,
    responseBody }
    from './harness.mjs';

let server;
before(async () => {
	server = await startServer({ name: 'limits',
	    config: { max_pages: 3, max_streams: 4 } });
});
after(async () => {
	await server?.stop();
});

const sessions = async () => JSON.stringify(await server.sql(
    'SELECT sid, page, visitor FROM sessions ORDER BY sid'));

test('past max_pages and max_streams a stream gets 503 with a JSON error and stores nothing',
    { timeout: 60000 }, async () => {
	// Three pages followed: one read, two watched.
	const a = server.reader({ page: '/a', watch: ['/b', '/c'] });
	await waitFor(() => a.readers('/a') === 1 && a.count('/c'), 10000,
	    'the first reader and its watched pages');
	const before = await sessions();

	const v = newVisitor('lim');
	let res = await curl(server.url(`/herenow/sse?page=%2Fd&visitor=${v}`));
	assert.equal(res.status, 503, `a fourth page: ${res.body}`);
	assert.equal(res.json?.code, 'too_many_pages', res.body);
	assert.equal(await sessions(), before, 'nothing stored');

	// A page already followed is still fine; fill up to max_streams.
	const more = [1, 2, 3].map(() => server.reader({ page: '/b' }));
	await waitFor(() => more.every((r) => r.readers('/b') === 3), 10000,
	    'three more readers on /b');
	const full = await sessions();
	res = await curl(server.url(`/herenow/sse?page=%2Fa&visitor=${v}`));
	assert.equal(res.status, 503, `a fifth stream: ${res.body}`);
	assert.equal(res.json?.code, 'too_many_streams', res.body);
	assert.equal(await sessions(), full, 'nothing stored');

	// A stream that ends frees its place.
	more[0].close();
	await waitFor(async () => {
		const r = server.reader({ page: '/a', reconnect: false });
		const ok = await waitFor(() => r.readers('/a') === 2 ||
		    r.errors.length > 0, 10000, 'an answer').then(
		    () => r.readers('/a') === 2);
		if (!ok)
			r.close();
		return ok;
	}, 15000, 'a new stream once one has ended');
});

// ---- per client address, per visitor, origins (issue 8) ------------------

// An SSE request held open with node's http, so that its headers (Origin,
// X-Forwarded-For) are ours: resolves { status, json, close } once the
// head is in (a refusal's body too).
function hold(url, headers = {}) {
	return new Promise((resolve, reject) => {
		const req = http.get(url, { headers, timeout: 10000 }, (res) => {
			if (res.statusCode === 200) {
				resolve({ status: 200, close: () => req.destroy() });
				return;
			}
			responseBody(res).then(({ body, json }) =>
			    resolve({ status: res.statusCode, body, json,
			    close: () => {} }));
		});
		req.on('timeout', () => req.destroy(new Error('no answer')));
		req.on('error', reject);
	});
}

function sseUrl(s, page, visitor = newVisitor('lim')) {
	return s.url('/herenow/sse?' + new URLSearchParams({ page, visitor }));
}

async function post(s, what, fields, headers = {}) {
	const res = await fetch(s.url(`/herenow/${what}`), {
		method: 'POST',
		headers: { 'content-type': 'application/x-www-form-urlencoded',
		    ...headers },
		body: new URLSearchParams(fields),
		signal: AbortSignal.timeout(10000),
	});
	const body = await res.text();
	return { status: res.status, body, json: jsonOf(body) };
}

const snapshot = async (s) => JSON.stringify(await s.sql(
    'SELECT sid, page, visitor, ended FROM sessions ORDER BY sid'));

// herenow_refused_total by reason, summed over the live processes.
async function refusals(s) {
	const res = await curl(s.url(`/herenow/metrics?token=${TOKEN}`));
	const out = {};
	for (const m of res.body.matchAll(
	    /^herenow_refused_total\{reason="([a-z_]+)"\} (\d+)/gm))
		out[m[1]] = Number(m[2]);
	return out;
}

const TOKEN = 'limits-token-0123456789';
const ALLOWED = 'http://allowed.example';

test('max_streams_per_addr: a client address past it gets 429, X-Forwarded-For only from trusted_proxies',
    { timeout: 90000 }, async () => {
	const s = await startServer({ name: 'limits-addr', config: {
	    max_streams_per_addr: 3, trusted_proxies: '127.0.0.1 ::1',
	    admin_token: TOKEN } });
	const u = await startServer({ name: 'limits-untrusted', config: {
	    max_streams_per_addr: 3, admin_token: TOKEN } });
	const held = [];
	try {
		// Three streams from 127.0.0.1 itself, then the fourth.
		for (let i = 0; i < 3; i++) {
			const h = await hold(sseUrl(s, '/addr'));
			assert.equal(h.status, 200);
			held.push(h);
		}
		await waitFor(async () => (await s.sql('SELECT count(*) AS n ' +
		    'FROM sessions WHERE page = \'/addr\''))[0].n === 3, 10000,
		    'three sessions');
		const before = await snapshot(s);
		let r = await hold(sseUrl(s, '/addr'));
		assert.equal(r.status, 429, r.body);
		assert.equal(r.json?.code, 'too_many_from_addr', r.body);
		assert.equal(await snapshot(s), before, 'nothing stored');

		// Through the trusted proxy, clients are told apart by the
		// address it appended; what a client wrote itself is not.
		const fwd = { 'X-Forwarded-For': '203.0.113.1, 198.51.100.7' };
		for (let i = 0; i < 3; i++) {
			const h = await hold(sseUrl(s, '/addr'), fwd);
			assert.equal(h.status, 200);
			held.push(h);
		}
		r = await hold(sseUrl(s, '/addr'),
		    { 'X-Forwarded-For': '203.0.113.2, 198.51.100.7' });
		assert.equal(r.status, 429, r.body);
		assert.equal(r.json?.code, 'too_many_from_addr');
		r = await hold(sseUrl(s, '/addr'),
		    { 'X-Forwarded-For': '198.51.100.8' });
		assert.equal(r.status, 200, 'another client of the proxy');
		held.push(r);

		// A stream that ends gives its place back.
		held[0].close();
		await waitFor(async () => {
			const h = await hold(sseUrl(s, '/addr'));
			if (h.status === 200)
				held.push(h);
			return h.status === 200;
		}, 15000, 'a place once a stream from 127.0.0.1 ended');

		// Without trusted_proxies the header is ignored.
		for (let i = 0; i < 3; i++) {
			const h = await hold(sseUrl(u, '/addr'));
			assert.equal(h.status, 200);
			held.push(h);
		}
		r = await hold(sseUrl(u, '/addr'),
		    { 'X-Forwarded-For': '198.51.100.9' });
		assert.equal(r.status, 429, r.body);

		await waitFor(async () =>
		    ((await refusals(s)).too_many_from_addr ?? 0) >= 2 &&
		    ((await refusals(u)).too_many_from_addr ?? 0) >= 1, 15000,
		    'the refusals counted in metrics by reason');
	} finally {
		for (const h of held)
			h.close();
		await u.stop();
		await s.stop();
	}
});

test('max_sessions_per_visitor: SSE and beat get 429, a WebSocket closes with the reason, nothing stored',
    { timeout: 90000 }, async () => {
	const s = await startServer({ name: 'limits-visitor',
	    tunnel: 'listen', config: { max_sessions_per_visitor: 2,
	    admin_token: TOKEN, origins: ALLOWED } });
	const held = [];
	try {
		const v = newVisitor('many');
		for (const page of ['/v1', '/v2']) {
			const h = await hold(sseUrl(s, page, v));
			assert.equal(h.status, 200);
			held.push(h);
		}
		await waitFor(async () => (await s.sql('SELECT count(*) AS n ' +
		    `FROM sessions WHERE visitor = '${v}'`))[0].n === 2, 10000,
		    'two sessions of the visitor');
		const before = await snapshot(s);
		let r = await hold(sseUrl(s, '/v3', v));
		assert.equal(r.status, 429, r.body);
		assert.equal(r.json?.code, 'too_many_sessions', r.body);
		r = await post(s, 'beat', { page: '/v3', visitor: v });
		assert.equal(r.status, 429, r.body);
		assert.equal(r.json?.code, 'too_many_sessions', r.body);

		// The WebSocket learns its visitor from hello, after the
		// upgrade: the store refuses the join, the reader is told.
		const ws = new WsReader(s, { carrier: 'wst', page: '/v3',
		    visitor: v, origin: ALLOWED });
		await waitFor(() => ws.closed, 10000, 'the WebSocket to close');
		assert.ok(ws.errors.some((e) => e.code === 'too_many_sessions'),
		    JSON.stringify(ws.errors));
		assert.equal(await snapshot(s), before, 'nothing stored');

		// Another visitor is not affected; a watch-only stream holds
		// no session and is not counted.
		const other = await hold(sseUrl(s, '/v3'));
		assert.equal(other.status, 200);
		held.push(other);
		const watch = await hold(s.url('/herenow/sse?' +
		    new URLSearchParams({ watch: '/v1', visitor: v })));
		assert.equal(watch.status, 200);
		held.push(watch);

		// A session that ends makes room (after its grace).
		held[0].close();
		await waitFor(async () => {
			const h = await hold(sseUrl(s, '/v3', v));
			if (h.status === 200)
				held.push(h);
			return h.status === 200;
		}, 15000, 'room once a session of the visitor ended');

		await waitFor(async () =>
		    ((await refusals(s)).too_many_sessions ?? 0) >= 3, 15000,
		    'the refusals counted in metrics');
	} finally {
		for (const h of held)
			h.close();
		await s.stop();
	}
});

test('origins: SSE, beat and leave from another origin get 403; without Origin (same-origin EventSource) they pass',
    { timeout: 60000 }, async () => {
	const s = await startServer({ name: 'limits-origin', config: {
	    origins: ALLOWED, admin_token: TOKEN } });
	const held = [];
	try {
		const before = await snapshot(s);
		const bad = { Origin: 'http://elsewhere.example' };
		let r = await hold(sseUrl(s, '/o'), bad);
		assert.equal(r.status, 403, r.body);
		assert.equal(r.json?.code, 'origin_refused');
		const v = newVisitor('o');
		r = await post(s, 'beat', { page: '/o', visitor: v }, bad);
		assert.equal(r.status, 403, r.body);
		assert.equal(r.json?.code, 'origin_refused');
		r = await post(s, 'leave', { page: '/o', visitor: v,
		    sid: 'b0123456789abcde' }, bad);
		assert.equal(r.status, 403, r.body);
		assert.equal(await snapshot(s), before, 'nothing stored');

		r = await hold(sseUrl(s, '/o'), { Origin: ALLOWED });
		assert.equal(r.status, 200);
		held.push(r);
		r = await hold(sseUrl(s, '/o'));
		assert.equal(r.status, 200, 'no Origin: same-origin');
		held.push(r);
		r = await post(s, 'beat', { page: '/o', visitor: v },
		    { Origin: ALLOWED });
		assert.equal(r.status, 200, r.body);
		const sid = r.json.sid;
		r = await post(s, 'leave', { page: '/o', visitor: v, sid },
		    { Origin: ALLOWED });
		assert.equal(r.status, 204, r.body);
		await waitFor(async () =>
		    ((await refusals(s)).origin_refused ?? 0) >= 3, 15000,
		    'the refusals counted in metrics');
	} finally {
		for (const h of held)
			h.close();
		await s.stop();
	}
});

test('a WebSocket that never says hello is closed after one to two ws_ping periods',
    { timeout: 60000 }, async () => {
	const s = await startServer({ name: 'limits-hello', tunnel: 'listen',
	    config: { ws_ping: '1s', origins: ALLOWED, admin_token: TOKEN } });
	try {
		const mute = new WsReader(s, { carrier: 'wst', hello: false,
		    origin: ALLOWED });
		const talks = new WsReader(s, { carrier: 'wst', page: '/h',
		    origin: ALLOWED });
		await waitFor(() => mute.opened, 10000, 'the mute WebSocket to open');
		await waitFor(() => mute.closed, 10000, 'the mute one to be closed');
		assert.ok(mute.errors.some((e) => e.code === 'hello_timeout'),
		    JSON.stringify(mute.errors));
		assert.ok(mute.closeInfo.at - mute.openedAt >= 900,
		    `closed ${mute.closeInfo.at - mute.openedAt} ms after open`);
		assert.ok(!talks.closed, 'the one that said hello stays');
		assert.equal(talks.readers('/h'), 1);
		talks.close?.();
		await waitFor(async () =>
		    ((await refusals(s)).hello_timeout ?? 0) >= 1, 15000,
		    'the refusal counted in metrics');
	} finally {
		await s.stop();
	}
});
