// Bounds a process holds: past max_pages distinct pages or max_streams held
// streams, a new stream gets 503 with a JSON error and nothing is stored.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, waitFor, curl, newVisitor } from './harness.mjs';

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
