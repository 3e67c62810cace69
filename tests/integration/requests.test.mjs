// Requests one at a time, with curl: bad input gets 400 and a JSON error
// and stores nothing; count and health answer; the SSE wire format.

import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, waitFor, curl, newVisitor, ms } from './harness.mjs';

let server;
before(async () => {
	server = await startServer({ name: 'requests',
	    config: { sse_heartbeat: '1s' } });
});
afterEach(() => {
	// A failed test must not leave its readers in the next one's counts.
	server?.closeReaders();
});
after(async () => {
	await server?.stop();
});

const tables = async () => JSON.stringify({
	sessions: await server.sql('SELECT * FROM sessions ORDER BY sid'),
	pages: await server.sql('SELECT * FROM pages ORDER BY page'),
});

function assertError(res, code, what) {
	assert.equal(res.status, 400, `${what}: status (body ${res.body})`);
	assert.match(res.type, /^application\/json/, `${what}: content type`);
	assert.ok(res.json, `${what}: the body is JSON: ${res.body}`);
	assert.equal(res.json.type, 'error', `${what}: ${res.body}`);
	assert.equal(res.json.code, code, `${what}: ${res.body}`);
	assert.equal(typeof res.json.message, 'string', `${what}: ${res.body}`);
	assert.ok(res.json.message.length > 0);
}

test('a bad page key, a missing page and an oversize query get 400 with a JSON error and leave the tables unchanged',
    { timeout: 60000 }, async () => {
	// One live reader, so that the tables are not trivially empty.
	const r = server.reader({ page: '/post/present' });
	await waitFor(() => r.readers() === 1, 10000, 'the reader to count');
	await waitFor(async () => (await server.sql(
	    'SELECT count(*) AS n FROM sessions')).at(0)?.n === 1, 10000,
	    'its session in the table');
	const before = await tables();

	const v = newVisitor('bad');
	const sse = (q) => server.url(`/herenow/sse?${q}`);
	const count = (q) => server.url(`/herenow/count?${q}`);
	const cases = [
		['bad_page', sse(`page=post/x&visitor=${v}`), 'page without /'],
		// lighttpd itself refuses %00 in a URL (its own 400): the
		// page's own escape, decoded after the query's, reaches herenow.
		['bad_page', sse(`page=%2Fa%2500b&visitor=${v}`), 'NUL in page'],
		['bad_page', sse(`page=%2Fa%251Fb&visitor=${v}`),
		    'control character in page'],
		['bad_page', sse(`page=%2Fa%C3%28&visitor=${v}`), 'bad UTF-8'],
		['bad_page', sse(`page=%2F${'x'.repeat(300)}&visitor=${v}`),
		    'page over 256 bytes'],
		['missing_page', sse(`visitor=${v}`), 'no page'],
		['query_too_long', sse(`page=%2Fpost%2Fx&visitor=${v}&pad=` +
		    'a'.repeat(4200)), 'query over 4096 bytes'],
		['bad_visitor', sse('page=%2Fpost%2Fx&visitor=bad%20id'),
		    'visitor with a space'],
		['bad_visitor', sse(`page=%2Fpost%2Fx&visitor=${'v'.repeat(65)}`),
		    'visitor over 64'],
		['bad_watch', sse(`page=%2Fpost%2Fx&visitor=${v}&watch=` +
		    Array.from({ length: 51 }, (_, i) => `%2Fw${i}`).join(',')),
		    '51 watched pages'],
		['bad_page', count('page=nope'), 'count: page without /'],
		['missing_page', count(''), 'count: no page'],
		['query_too_long', count(`page=%2Fx&pad=${'a'.repeat(4200)}`),
		    'count: query over 4096 bytes'],
	];
	for (const [code, url, what] of cases)
		assertError(await curl(url), code, what);

	assert.equal(await tables(), before,
	    'the sessions and pages tables changed');

	// An unknown endpoint is a JSON 404.
	const nf = await curl(server.url('/herenow/nope'));
	assert.equal(nf.status, 404);
	assert.equal(nf.json?.type, 'error', nf.body);
	r.close();
});

test('count and health answer', { timeout: 60000 }, async () => {
	const page = '/post/counted';
	const a = server.reader({ page });
	const b = server.reader({ page });
	await waitFor(() => a.readers() === 2 && b.readers() === 2, 10000,
	    'two readers');
	// Normalised like any page key: one percent-decoding, "//" and a
	// trailing "/" dropped.
	await waitFor(async () => {
		const res = await curl(server.url(
		    '/herenow/count?page=%2Fpost%2F%2Fcounted%2F'));
		assert.equal(res.status, 200, res.body);
		assert.match(res.type, /^application\/json/);
		assert.equal(res.json.type, 'count');
		assert.equal(res.json.page, page);
		assert.equal(typeof res.json.site, 'number');
		return res.json.readers === 2 && res.json.tabs === 2;
	}, 10000, 'count to show 2 readers and 2 tabs');

	const unknown = await curl(server.url('/herenow/count?page=%2Fnobody'));
	assert.equal(unknown.status, 200);
	assert.equal(unknown.json.readers, 0);
	assert.equal(unknown.json.tabs, 0);

	const health = await curl(server.url('/herenow/health'));
	assert.equal(health.status, 200, health.body);
	assert.match(health.type, /^application\/json/);
	assert.equal(health.json.status, 'ok');

	// The embed script is a static file beside the endpoints.
	const js = await curl(server.url('/herenow/herenow.js'));
	assert.equal(js.status, 200);
	assert.match(js.body, /data-herenow/);
	server.closeReaders();
});

test('SSE: retry first, count events of one JSON line, comment heartbeats',
    { timeout: 60000 }, async () => {
	const ac = new AbortController();
	const res = await fetch(server.url(
	    `/herenow/sse?page=%2Fpost%2Fwire&visitor=${newVisitor('wire')}`),
	    { signal: ac.signal });
	try {
		assert.equal(res.status, 200);
		assert.match(res.headers.get('content-type'),
		    /^text\/event-stream/);
		const decoder = new TextDecoder();
		const reader = res.body.getReader();
		let text = '';
		const heartbeat = ms(server.config.sse_heartbeat);
		const deadline = Date.now() + heartbeat * 2 + 5000;
		while (!/^: ?ping/m.test(text) || !text.includes('event: count')) {
			assert.ok(Date.now() < deadline,
			    `no count and ping in time; got:\n${text}`);
			let timer;
			const { value, done } = await Promise.race([reader.read(),
			    new Promise((resolve) => {
				timer = setTimeout(resolve, deadline - Date.now(),
				    { done: 'timeout' });
			    })]);
			clearTimeout(timer);
			assert.ok(!done, `the stream ended (${done}):\n${text}`);
			text += decoder.decode(value, { stream: true });
		}
		const events = text.split('\n\n').filter((e) => e !== '');
		assert.match(events[0], /^retry: ?\d+$/m,
		    `the first event sets retry:\n${text}`);
		assert.doesNotMatch(events[0], /^(event|data):/m);
		const counts = events.filter((e) => /^event: count$/m.test(e));
		assert.ok(counts.length >= 1);
		for (const ev of counts) {
			const data = ev.split('\n').filter((l) =>
			    l.startsWith('data:'));
			assert.equal(data.length, 1, `one data line: ${ev}`);
			const obj = JSON.parse(data[0].replace(/^data: ?/, ''));
			assert.equal(obj.type, 'count');
			assert.equal(obj.page, '/post/wire');
			for (const k of ['readers', 'tabs', 'site'])
				assert.ok(Number.isInteger(obj[k]), `${k} in ${ev}`);
		}
	} finally {
		ac.abort();
	}
});
