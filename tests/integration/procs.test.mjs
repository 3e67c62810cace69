// Several herenow processes under one lighttpd (max-procs) share the
// session table: every reader sees the exact count whichever process holds
// its stream.

import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, waitFor, summary } from './harness.mjs';

let server;
before(async () => {
	server = await startServer({ name: 'procs', maxProcs: 2 });
});
afterEach(() => {
	// A failed test must not leave its readers in the next one's counts.
	server?.closeReaders();
});
after(async () => {
	await server?.stop();
});

test('with max-procs 2 every reader sees the exact count whichever process holds it',
    { timeout: 90000 }, async () => {
	await waitFor(() => server.children().length === 2, 10000,
	    'lighttpd to run 2 herenow processes',
	    () => `children ${server.children()}`);
	await waitFor(async () => (await server.sql(
	    'SELECT count(*) AS n FROM owners'))[0].n === 2, 10000,
	    'two owners registered', async () => JSON.stringify(
	    await server.sql('SELECT * FROM owners')));
	const owners = await server.sql('SELECT id, pid FROM owners');
	assert.deepEqual(owners.map((o) => o.pid).sort((x, y) => x - y),
	    server.children(), 'the owners are lighttpd\'s two children');

	// lighttpd hands a new request to the least busy process: open readers
	// until both processes hold some (bounded).
	const page = '/post/shared';
	const readers = [];
	let byOwner = new Map();
	while (readers.length < 40) {
		readers.push(server.reader({ page }));
		const n = readers.length;
		await waitFor(async () => {
			byOwner = await server.liveByOwner();
			return [...byOwner.values()].reduce((a, b) => a + b, 0) === n;
		}, 10000, `${n} live sessions in the table`);
		if (readers.length >= 6 && byOwner.size === 2)
			break;
	}
	assert.equal(byOwner.size, 2,
	    `both processes hold readers: ${JSON.stringify([...byOwner])}`);

	const n = readers.length;
	await waitFor(() => readers.every((r) => r.readers() === n &&
	    r.count().tabs === n), 10000, `every reader to show ${n}`,
	    () => summary(readers));

	// Readers leave from both processes; the rest agree at once.
	const visitorsOf = async (owner) => (await server.sql(
	    `SELECT visitor FROM sessions WHERE ended IS NULL AND owner = '${owner}'`))
	    .map((row) => row.visitor);
	const leaving = [];
	for (const owner of byOwner.keys()) {
		const vs = new Set(await visitorsOf(owner));
		leaving.push(readers.find((r) => vs.has(r.visitor)));
	}
	assert.equal(leaving.filter(Boolean).length, 2);
	for (const r of leaving)
		r.close();
	const staying = readers.filter((r) => !leaving.includes(r));
	await waitFor(() => staying.every((r) => r.readers() === n - 2 &&
	    r.count().tabs === n - 2), 2000,
	    `the others to show ${n - 2} within 2 s`, () => summary(staying));

	// And joins on either process reach everyone.
	const more = [server.reader({ page }), server.reader({ page })];
	const now = [...staying, ...more];
	await waitFor(() => now.every((r) => r.readers() === n), 10000,
	    `everyone to show ${n} again`, () => summary(now));
	server.closeReaders();
});
