// WebSocket over FastCGI, as lighttpd >= 1.4.74 passes it with "upgrade" =>
// "enable": herenow --listen with fastcgi_upgrade on, reached through
// fcgi-upgrade-proxy.mjs (the stand-in for that lighttpd, DESIGN §3: STDIN
// never ended, the client's bytes in FCGI_STDIN records cut anywhere, EOF
// when the client leaves).  Also: Debian's 1.4.69 itself, which cannot pass
// an upgrade on, never gets a 101.

import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
	startServer, waitFor, wsConfig, wsSummary, RawWs, rawWs, newVisitor,
	wsScenarios,
} from './harness.mjs';

const carrier = 'upgrade';

let server;
before(async () => {
	server = await startServer({ name: 'ws-upgrade', upgrade: true,
	    config: wsConfig });
});
afterEach(() => {
	server?.closeReaders();
});
after(async () => {
	await server?.stop();
});

wsScenarios(test, () => server, carrier);

test('frames really arrived in records cut anywhere', { timeout: 30000 },
    async () => {
	// The scenarios above went through the proxy: many more records than
	// frames, so frames were split across records and records across
	// reads.
	const { upgrades, stdinRecords, stdinBytes } = server.proxy.stats;
	assert.ok(upgrades >= 20, `${upgrades} upgrades`);
	assert.ok(stdinRecords > stdinBytes / 13, `${stdinRecords} records ` +
	    `for ${stdinBytes} bytes`);
});

test('handshake errors are answered before any upgrade', { timeout: 30000 },
    async () => {
	const url = server.wsUrl(carrier);
	const origin = server.origin;
	let raw = new RawWs(url, { origin, version: '8' });
	let res = await raw.connect();
	assert.equal(res.status, 426, res.body);
	assert.equal(res.headers['sec-websocket-version'], '13');
	assert.equal(res.json?.type, 'error', res.body);
	raw.destroy();

	raw = new RawWs(url, { origin, key: 'too-short' });
	res = await raw.connect();
	assert.equal(res.status, 400, res.body);
	assert.equal(res.json?.type, 'error', res.body);
	raw.destroy();

	// No Origin header while an allowlist is set.
	raw = new RawWs(url, {});
	res = await raw.connect();
	assert.equal(res.status, 403, res.body);
	raw.destroy();
});

test('lighttpd 1.4.69 cannot pass an upgrade on: /herenow/ws there gets no 101',
    { timeout: 30000 }, async () => {
	// The same handshake to lighttpd's own FastCGI processes, where
	// fastcgi_upgrade is off (1.4.69 forwards the Upgrade header and
	// accepts "upgrade" => "enable" without doing anything with it).
	const url = server.base.replace(/^http/, 'ws') + '/herenow/ws';
	const raw = new RawWs(url, { origin: server.origin });
	const res = await raw.connect();
	raw.destroy();
	assert.notEqual(res.status, 101);
	assert.equal(res.status, 400, res.body);
	assert.equal(res.json?.code, 'upgrade_unavailable', res.body);
});

test('a WebSocket reader and SSE readers through the same FastCGI process agree',
    { timeout: 60000 }, async () => {
	const page = '/upgrade/sse';
	const ws = [1, 2].map(() => server.wsReader({ carrier, page }));
	const sse = [1, 2].map(() => server.reader({ page, via: 'upgrade' }));
	const all = [...ws, ...sse];
	await waitFor(() => all.every((r) => r.readers() === 4 &&
	    r.count().tabs === 4), 10000, 'all four at 4',
	    () => wsSummary(all));
	ws[0].terminate();
	sse[0].close();
	const left = [ws[1], sse[1]];
	await waitFor(() => left.every((r) => r.readers() === 2 &&
	    r.count().tabs === 2), 10000, 'the two left at 2',
	    () => wsSummary(left));
});

// Last: it stops the program.
test('SIGTERM: every WebSocket reader gets close 1001 and the process exits within 2 s',
    { timeout: 60000 }, async () => {
	const page = '/upgrade/shutdown';
	const readers = [1, 2, 3].map(() => server.wsReader({ carrier, page }));
	const raw = await rawWs(server.wsUrl(carrier), { origin: server.origin });
	raw.sendText(JSON.stringify({ type: 'hello', page,
	    visitor: newVisitor('raw') }));
	await waitFor(() => readers.every((r) => r.readers() === 4), 10000,
	    'four readers', () => wsSummary(readers));
	const t0 = Date.now();
	await server.stopUpgradeProgram(2000);
	assert.ok(Date.now() - t0 <= 2500, 'exited within 2 s');
	for (const r of readers) {
		await r.waitClosed(5000);
		assert.equal(r.closeInfo.code, 1001, JSON.stringify(r.closeInfo));
	}
	await raw.closedByServer(5000);
	assert.equal(raw.closeFrame?.code, 1001);
	assert.equal(server.upgradeStatus, 0, 'exit status');
});
