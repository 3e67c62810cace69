// SIGTERM (what lighttpd sends on shutdown and restart): a herenow process
// exits within 2 s and removes its own sessions, so its readers leave the
// others' counts at once instead of waiting to be reaped.

import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startServer, waitFor, summary, ms, alive } from './harness.mjs';

let server;
before(async () => {
	// A long stale_after: a count that drops in time was not reaped.
	server = await startServer({ name: 'sigterm', maxProcs: 2,
	    config: { stale_after: '20s' } });
});
afterEach(() => {
	server?.closeReaders();
});
after(async () => {
	await server?.stop();
});

// The signal masks of a process, from /proc: { ign, cgt } as BigInts.
function signalMasks(pid) {
	const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
	const mask = (name) => BigInt('0x' +
	    new RegExp(`^${name}:\\s+([0-9a-f]+)$`, 'm').exec(status)[1]);
	return { ign: mask('SigIgn'), cgt: mask('SigCgt') };
}

test('a FastCGI process ignores SIGPIPE: a write to a reader who left costs no signal (libfcgi\'s own handler is replaced)',
    { timeout: 30000 }, async () => {
	await waitFor(() => server.children().length === 2, 10000,
	    'lighttpd to run 2 herenow processes');
	const pipe = 1n << 12n;		// SIGPIPE is 13
	for (const pid of server.children()) {
		const { ign, cgt } = signalMasks(pid);
		assert.ok((ign & pipe) !== 0n && (cgt & pipe) === 0n,
		    `process ${pid}: SigIgn ${ign.toString(16)} ` +
		    `SigCgt ${cgt.toString(16)}`);
	}
});

test('SIGTERM of a herenow process: it exits within 2 s and its readers leave the count at once',
    { timeout: 120000 }, async () => {
	const page = '/post/terminated';
	await waitFor(() => server.children().length === 2, 10000,
	    'lighttpd to run 2 herenow processes');
	const readers = [];
	let byOwner = new Map();
	while (readers.length < 40) {
		readers.push(server.reader({ page, reconnect: false }));
		const n = readers.length;
		await waitFor(async () => {
			byOwner = await server.liveByOwner();
			return [...byOwner.values()].reduce((a, b) => a + b, 0) === n;
		}, 10000, `${n} live sessions in the table`);
		if (readers.length >= 6 && byOwner.size === 2 &&
		    Math.min(...byOwner.values()) >= 2)
			break;
	}
	assert.equal(byOwner.size, 2, 'both processes hold readers');
	await waitFor(() => readers.every((r) => r.readers() === readers.length),
	    10000, `every reader to show ${readers.length}`,
	    () => summary(readers));

	const [owner] = byOwner.keys();
	const [{ pid }] = await server.sql(
	    `SELECT pid FROM owners WHERE id = '${owner}'`);
	const gone = new Set((await server.sql('SELECT visitor FROM sessions ' +
	    `WHERE ended IS NULL AND owner = '${owner}'`)).map((r) => r.visitor));
	const survivors = readers.filter((r) => !gone.has(r.visitor));

	const t0 = Date.now();
	process.kill(pid, 'SIGTERM');
	await waitFor(() => !alive(pid), 2000, `process ${pid} to exit within 2 s`);
	await waitFor(() => survivors.every((r) =>
	    r.readers() === survivors.length &&
	    r.count().tabs === survivors.length), 2000,
	    `the survivors to show ${survivors.length} within 2 s of the exit ` +
	    `(stale_after is ${ms(server.config.stale_after)} ms)`,
	    () => summary(survivors));
	assert.ok(Date.now() - t0 < ms(server.config.stale_after));
	const left = await server.sql('SELECT count(*) AS n FROM sessions ' +
	    `WHERE owner = '${owner}'`);
	assert.equal(left[0].n, 0, 'the process removed its sessions');
	for (const r of survivors)
		assert.deepEqual(r.errors, [], 'a survivor lost its stream');
});
