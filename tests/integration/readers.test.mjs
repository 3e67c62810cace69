// Counting through the real path: browser-like SSE readers, lighttpd,
// one herenow process.  readers = distinct visitors, tabs = streams,
// site = distinct visitors on the whole site.

import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, openReaders, waitFor, summary, newVisitor }
    from './harness.mjs';

let server;
before(async () => {
	server = await startServer({ name: 'readers' });
});
afterEach(() => {
	// A failed test must not leave its readers in the next one's counts.
	server?.closeReaders();
});
after(async () => {
	await server?.stop();
});

test('20 readers on one page all end on readers: 20; 5 leave and the others show 15 within 2 s',
    { timeout: 60000 }, async () => {
	const page = '/post/twenty';
	const all = openReaders(server, 20, page);
	await waitFor(() => all.every((r) => r.readers() === 20 &&
	    r.count().tabs === 20), 10000, 'every reader to show 20',
	    () => summary(all));

	const leaving = all.slice(0, 5);
	const staying = all.slice(5);
	for (const r of leaving)
		r.close();
	await waitFor(() => staying.every((r) => r.readers() === 15 &&
	    r.count().tabs === 15), 2000,
	    'the 15 left to show 15 within 2 s', () => summary(staying));
	for (const r of staying) {
		assert.equal(r.count().page, page);
		assert.equal(r.count().type, 'count');
	}
	server.closeReaders();
	await waitFor(async () => (await server.sql(
	    'SELECT count(*) AS n FROM sessions'))[0].n === 0, 10000,
	    'the sessions table to empty after everyone left');
});

test('two pages are independent and site counts both', { timeout: 60000 },
    async () => {
	const a = openReaders(server, 3, '/blog/a');
	const b = openReaders(server, 2, '/blog/b');
	const everyone = [...a, ...b];
	await waitFor(() => a.every((r) => r.readers() === 3) &&
	    b.every((r) => r.readers() === 2) &&
	    everyone.every((r) => r.count().site === 5), 10000,
	    '/blog/a at 3, /blog/b at 2, site at 5', () => summary(everyone));
	// A reader hears only about its own page (it watches nothing).
	for (const r of everyone)
		assert.deepEqual([...r.latest.keys()], [r.page]);

	// A change on /blog/b leaves /blog/a's readers count alone.
	b[0].close();
	await waitFor(() => b[1].readers() === 1, 10000, '/blog/b at 1',
	    () => summary(b));
	await waitFor(() => a.every((r) => r.count().site === 4), 10000,
	    'site at 4 on /blog/a', () => summary(a));
	for (const r of a)
		assert.equal(r.readers(), 3);
	server.closeReaders();
});

test('a stream watching pages gets their counts without being counted',
    { timeout: 60000 }, async () => {
	const a = server.reader({ page: '/list/a' });
	const b = openReaders(server, 2, '/list/b');
	const index = server.reader({ page: '/list',
	    watch: ['/list/a', '/list/b'] });
	await waitFor(() => index.readers('/list/a') === 1 &&
	    index.readers('/list/b') === 2 && index.readers('/list') === 1,
	    10000, 'the index to see /list/a at 1 and /list/b at 2',
	    () => JSON.stringify([...index.latest.values()]));
	// The watcher joined /list only.
	await waitFor(() => a.readers() === 1 && b.every((r) =>
	    r.readers() === 2), 10000, 'watched pages not counting the watcher',
	    () => summary([a, ...b]));
	const rows = await server.sql('SELECT page, count(*) AS n FROM sessions ' +
	    'WHERE ended IS NULL GROUP BY page ORDER BY page');
	assert.deepEqual(rows, [{ page: '/list', n: 1 }, { page: '/list/a', n: 1 },
	    { page: '/list/b', n: 2 }]);
	server.closeReaders();
});

test('one visitor in two tabs is 1 reader and 2 tabs', { timeout: 60000 },
    async () => {
	const page = '/blog/tabs';
	const visitor = newVisitor('tabs');
	const tab1 = server.reader({ page, visitor });
	const tab2 = server.reader({ page, visitor });
	const other = server.reader({ page: '/blog/elsewhere' });
	await waitFor(() => [tab1, tab2].every((r) => r.readers() === 1 &&
	    r.count().tabs === 2 && r.count().site === 2), 10000,
	    'readers 1, tabs 2, site 2 on both tabs', () => summary([tab1, tab2]));
	await waitFor(() => other.count()?.site === 2, 10000,
	    'site 2 on the other page', () => summary([other]));

	tab1.close();
	await waitFor(() => tab2.readers() === 1 && tab2.count().tabs === 1,
	    10000, 'readers 1, tabs 1 after one tab closed',
	    () => summary([tab2]));
	server.closeReaders();
});
