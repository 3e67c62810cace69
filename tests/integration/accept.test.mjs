// The FastCGI acceptors (src/fcgi_accept.c): connections to herenow's
// socket that send nothing or half a request do not hold up the requests
// behind them, and libfcgi's own accept (taken when FCGI_WEB_SERVER_ADDRS
// is set) still serves.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startServer, waitFor, curl } from './harness.mjs';
import { fcgiRecord, FCGI } from './fcgi-upgrade-proxy.mjs';

// herenow's FastCGI socket as lighttpd spawned it ("herenow.sock-0").
function fastcgiSocket(server) {
	const names = fs.readdirSync(server.sockDir)
	    .filter((f) => f.startsWith('herenow.sock'));
	assert.equal(names.length, 1, `one FastCGI socket: ${names}`);
	return path.join(server.sockDir, names[0]);
}

// A raw connection to the socket; resolves once connected, with a promise
// of when the other side closes it.
function rawConnect(sockPath) {
	return new Promise((resolve, reject) => {
		const s = net.connect(sockPath);
		const info = { sock: s, openedAt: 0, closedAt: 0 };
		info.closed = new Promise((done) => s.on('close', () => {
			info.closedAt = Date.now();
			done();
		}));
		s.on('error', () => {});
		s.once('connect', () => {
			info.openedAt = Date.now();
			resolve(info);
		});
		s.once('error', reject);
	});
}

test('silent and half-sent FastCGI connections are closed after a few seconds and do not hold up requests',
    { timeout: 90000 }, async (t) => {
	const server = await startServer({ name: 'accept' });
	t.after(() => server.stop());
	const sock = fastcgiSocket(server);

	// Twice as many as herenow has acceptor threads (4), so that
	// without a read timeout every thread waits on one of them for
	// good, and the second four come after the first are dropped.
	const raw = [];
	for (let i = 0; i < 8; i++)
		raw.push(await rawConnect(sock));
	// Every other one sends the first bytes of a FCGI_BEGIN_REQUEST
	// only; the rest send nothing.
	const begin = fcgiRecord(FCGI.BEGIN_REQUEST,
	    Buffer.from([0, 1, 0, 0, 0, 0, 0, 0]));
	raw.forEach((r, i) => i % 2 && r.sock.write(begin.subarray(0, 5)));

	// Behind them in the socket's queue, real requests are answered.
	const page = '/accept/held';
	const res = await curl(server.url('/herenow/count?page=' +
	    encodeURIComponent(page)));
	assert.equal(res.status, 200, res.body);
	assert.equal(res.json?.readers, 0, res.body);
	const reader = server.reader({ page });
	await waitFor(() => reader.readers() === 1, 20000,
	    'the new reader counted', () => server.log());

	// And herenow closed every one of the raw connections itself, none
	// of them at once.
	await waitFor(async () => {
		const closed = await Promise.race([
		    Promise.all(raw.map((r) => r.closed)).then(() => true),
		    new Promise((done) => setTimeout(() => done(false), 200)),
		]);
		return closed;
	}, 30000, 'herenow to close the silent connections', () => server.log());
	for (const r of raw)
		assert.ok(r.closedAt - r.openedAt >= 1000,
		    `closed after ${r.closedAt - r.openedAt} ms, not at once`);
	reader.close();
	await waitFor(async () => (await server.sql(
	    'SELECT count(*) AS n FROM sessions'))[0].n === 0, 20000,
	    'the reader\'s session gone');
});

test('with FCGI_WEB_SERVER_ADDRS set, libfcgi accepts (its own address check) and herenow serves as before',
    { timeout: 60000 }, async (t) => {
	const server = await startServer({ name: 'accept-addrs',
	    env: { FCGI_WEB_SERVER_ADDRS: '127.0.0.1' } });
	t.after(() => server.stop());
	const [pid] = server.children();
	const env = fs.readFileSync(`/proc/${pid}/environ`, 'utf8');
	assert.match(env, /(^|\0)FCGI_WEB_SERVER_ADDRS=127\.0\.0\.1(\0|$)/,
	    'herenow has the variable');

	const page = '/accept/addrs';
	const readers = [];
	for (let i = 0; i < 6; i++)
		readers.push(server.reader({ page }));
	await waitFor(() => readers.every((r) => r.readers() === 6),
	    20000, 'six readers counted', () => server.log());
	const res = await curl(server.url('/herenow/count?page=' +
	    encodeURIComponent(page)));
	assert.equal(res.status, 200, res.body);
	assert.equal(res.json?.readers, 6, res.body);
	for (const r of readers)
		r.close();
});
