// A herenow process killed with SIGKILL says no goodbye: its sessions stay
// in the table until the survivors reap them (stale_after + heartbeat), and
// lighttpd starts another process that serves again.

import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, waitFor, summary, ms, alive } from './harness.mjs';

let server;
before(async () => {
	server = await startServer({ name: 'sigkill', maxProcs: 2 });
});
afterEach(() => {
	// A failed test must not leave its readers in the next one's counts.
	server?.closeReaders();
});
after(async () => {
	await server?.stop();
});

test('SIGKILL of a herenow process: its readers drop out within stale_after + heartbeat, and the next process serves',
    { timeout: 120000 }, async () => {
	const page = '/post/killed';
	await waitFor(() => server.children().length === 2, 10000,
	    'lighttpd to run 2 herenow processes');

	// Readers on both processes (lighttpd balances by load), bounded.
	const readers = [];
	let byOwner = new Map();
	while (readers.length < 40) {
		readers.push(server.reader({ page, reconnect: false }));
		const n = readers.length;
		await waitFor(async () => {
			byOwner = await server.liveByOwner();
			return [...byOwner.values()].reduce((a, b) => a + b, 0) === n;
		}, 10000, `${n} live sessions in the table`);
		if (readers.length >= 8 && byOwner.size === 2 &&
		    Math.min(...byOwner.values()) >= 2)
			break;
	}
	assert.equal(byOwner.size, 2, 'both processes hold readers');
	await waitFor(() => readers.every((r) => r.readers() === readers.length),
	    10000, `every reader to show ${readers.length}`,
	    () => summary(readers));

	// The victim: one owner, its pid, and the visitors it holds.
	const [victimOwner] = byOwner.keys();
	const [{ pid }] = await server.sql(
	    `SELECT pid FROM owners WHERE id = '${victimOwner}'`);
	assert.ok(server.children().includes(pid),
	    `owner ${victimOwner} is lighttpd's child ${pid}`);
	const victimVisitors = new Set((await server.sql(
	    'SELECT visitor FROM sessions WHERE ended IS NULL AND ' +
	    `owner = '${victimOwner}'`)).map((r) => r.visitor));
	const doomed = readers.filter((r) => victimVisitors.has(r.visitor));
	const survivors = readers.filter((r) => !victimVisitors.has(r.visitor));
	assert.ok(doomed.length >= 1 && survivors.length >= 1);

	const killedAt = Date.now();
	process.kill(pid, 'SIGKILL');
	await waitFor(() => !alive(pid), 5000, `process ${pid} to die`);

	// Exactly the killed process's readers lose their stream (and, made
	// with reconnect: false, stay away).
	await waitFor(() => doomed.every((r) => r.errors.length > 0), 10000,
	    'the killed process\'s readers to see their stream end',
	    () => doomed.map((r) => r.errors.length).join(','));
	for (const r of survivors)
		assert.deepEqual(r.errors, [], 'a survivor lost its stream');

	// The survivors' count drops to exactly the survivors in time.
	const limit = ms(server.config.stale_after) + ms(server.config.heartbeat);
	const slack = 2000;
	await waitFor(() => survivors.every((r) =>
	    r.readers() === survivors.length &&
	    r.count().tabs === survivors.length), limit + slack - (Date.now() - killedAt),
	    `the survivors to show ${survivors.length} within ` +
	    `stale_after + heartbeat (${limit} ms) + ${slack} ms`,
	    () => summary(survivors));
	const dead = await server.sql('SELECT count(*) AS n FROM sessions ' +
	    `WHERE owner = '${victimOwner}'`);
	assert.equal(dead[0].n, 0, 'the killed owner\'s sessions are reaped');

	// lighttpd starts a new process for the dead one; new readers are
	// served and counted, on both processes again.
	const fresh = [];
	let owners = new Map();
	while (fresh.length < 20) {
		fresh.push(server.reader({ page }));
		const n = survivors.length + fresh.length;
		await waitFor(async () => {
			owners = await server.liveByOwner();
			return [...owners.values()].reduce((a, b) => a + b, 0) === n;
		}, 10000, `${n} live sessions after the restart`,
		    async () => JSON.stringify([...await server.liveByOwner()]) +
		    ` children ${server.children()}\n${server.log()}`);
		if (fresh.length >= 2 && owners.size === 2)
			break;
	}
	assert.equal(owners.size, 2, 'the new process holds readers');
	assert.ok(!owners.has(victimOwner));
	await waitFor(() => server.children().length === 2, 10000,
	    'lighttpd to run 2 herenow processes again');
	assert.ok(!server.children().includes(pid));
	server.noteChildren();

	const everyone = [...survivors, ...fresh];
	await waitFor(() => everyone.every((r) =>
	    r.readers() === everyone.length), 10000,
	    `everyone to show ${everyone.length}`, () => summary(everyone));
	server.closeReaders();
});
