// Polling clients: POST beat and leave (form or JSON bodies, as
// navigator.sendBeacon sends them), a beat-only session reaped after
// stale_after, count with its ETag, badge.svg.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startServer, waitFor, curl, newVisitor } from './harness.mjs';

const execFileP = promisify(execFile);
let server;
before(async () => {
	server = await startServer({ name: 'beat',
	    config: { stale_after: '3s', heartbeat: '1s',
		leave_grace: '500ms' } });
});
after(async () => {
	await server?.stop();
});

// POST with curl: { status, body, json }.
async function post(path, body, type = 'application/x-www-form-urlencoded') {
	const { stdout } = await execFileP('curl', ['-sS', '--max-time', '10',
	    '-X', 'POST', '-H', `Content-Type: ${type}`, '--data-binary', body,
	    '-w', '\n%{http_code}', server.url(path)]);
	const cut = stdout.lastIndexOf('\n');
	const text = stdout.slice(0, cut);
	let json;
	try {
		json = JSON.parse(text);
	} catch {
		json = undefined;
	}
	return { status: Number(stdout.slice(cut + 1)), body: text, json };
}

const count = async (page) => (await curl(server.url(
    `/herenow/count?page=${encodeURIComponent(page)}`))).json;

test('a beat counts the client, later beats keep it, leave ends it after leave_grace',
    { timeout: 60000 }, async () => {
	const v1 = newVisitor('b'), v2 = newVisitor('b');
	const a = await post('/herenow/beat', `page=%2Fbeat%2Fa&visitor=${v1}`);
	assert.equal(a.status, 200, a.body);
	assert.equal(a.json.readers, 1, a.body);
	assert.match(a.json.sid, /^b[0-9a-f]{15}$/, a.body);
	assert.ok(a.json.next > 0 && a.json.next <= 3000, a.body);
	// JSON as text/plain, the way sendBeacon sends a string.
	const b = await post('/herenow/beat', JSON.stringify({
	    page: '/beat/a', visitor: v2 }), 'text/plain;charset=UTF-8');
	assert.equal(b.status, 200, b.body);
	assert.equal(b.json.readers, 2, b.body);
	// The same sid again: the same session, not a third.
	const a2 = await post('/herenow/beat',
	    `page=%2Fbeat%2Fa&visitor=${v1}&sid=${a.json.sid}`);
	assert.equal(a2.json.sid, a.json.sid);
	assert.equal(a2.json.tabs, 2, a2.body);
	// A stream's kind of id is never taken: a new beat session instead.
	const c = await post('/herenow/beat',
	    `page=%2Fbeat%2Fc&visitor=${v1}&sid=0123456789abcdef`);
	assert.notEqual(c.json.sid, '0123456789abcdef');

	const l = await post('/herenow/leave',
	    `page=%2Fbeat%2Fa&visitor=${v2}&sid=${b.json.sid}`);
	assert.equal(l.status, 204, l.body);
	assert.equal((await count('/beat/a')).readers, 2,
	    'still counted within leave_grace');
	await waitFor(async () => (await count('/beat/a')).readers === 1,
	    5000, 'the leave after leave_grace');

	// Silent for stale_after: reaped (within stale_after + heartbeat).
	await waitFor(async () => (await count('/beat/a')).readers === 0,
	    3000 + 1000 + 3000, 'the silent beat session reaped');
	assert.equal((await server.sql(
	    'SELECT count(*) AS n FROM sessions')).at(0).n, 0);
});

test('bad beats get a JSON error and store nothing', { timeout: 30000 },
    async () => {
	const before = JSON.stringify(await server.sql(
	    'SELECT * FROM sessions ORDER BY sid'));
	const v = newVisitor('bad');
	const cases = [
		[`visitor=${v}`, 400, 'missing_page'],
		[`page=post&visitor=${v}`, 400, 'bad_page'],
		['page=%2Fa', 400, 'bad_visitor'],
		['{"page":1,"visitor":"x"}', 400, 'bad_body'],
		['{"page":"/a"', 400, 'bad_body'],
		[`page=%2Fa&visitor=${v}&pad=${'x'.repeat(5000)}`, 413,
		    'body_too_long'],
	];
	for (const [body, status, code] of cases) {
		const r = await post('/herenow/beat', body);
		assert.equal(r.status, status, `${body.slice(0, 40)}: ${r.body}`);
		assert.equal(r.json?.code, code, r.body);
	}
	const l = await post('/herenow/leave', `page=%2Fa&visitor=${v}`);
	assert.equal(l.status, 400, l.body);
	assert.equal(l.json?.code, 'bad_sid');
	const g = await curl(server.url('/herenow/beat'));
	assert.equal(g.status, 405, g.body);
	assert.equal(JSON.stringify(await server.sql(
	    'SELECT * FROM sessions ORDER BY sid')), before);
});

test('count has an ETag and answers 304 to it; badge.svg shows the count',
    { timeout: 30000 }, async () => {
	const v = newVisitor('e');
	await post('/herenow/beat', `page=%2Fetag&visitor=${v}`);
	const { stdout } = await execFileP('curl', ['-sS', '-i',
	    server.url('/herenow/count?page=%2Fetag')]);
	const etag = /^etag: (.*)\r$/mi.exec(stdout)?.[1];
	assert.ok(etag, stdout);
	assert.match(stdout, /^cache-control: max-age=1\r$/mi);
	const { stdout: code } = await execFileP('curl', ['-sS', '-o',
	    '/dev/null', '-w', '%{http_code}', '-H', `If-None-Match: ${etag}`,
	    server.url('/herenow/count?page=%2Fetag')]);
	assert.equal(code, '304');
	const badge = await curl(server.url('/herenow/badge.svg?page=%2Fetag'));
	assert.equal(badge.status, 200);
	assert.match(badge.type, /^image\/svg\+xml/);
	assert.match(badge.body, /<title>1 reading now<\/title>/);
	assert.match(badge.body, /aria-label="1 reading now"/);
});
