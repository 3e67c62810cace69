// WebSocket through mod_wstunnel (lighttpd 1.4.46 - 1.4.73; Debian's 1.4.69
// here): lighttpd does the handshake and framing, herenow reads the
// payload bytes on its tunnel socket.  Both layouts of the snippet: (a) a
// herenow --tunnel process that lighttpd starts, (b) the FastCGI process
// listening on tunnel_listen.  Framing errors are lighttpd's to handle
// here; herenow sees JSON values one after another.

import { describe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
	startServer, waitFor, newVisitor, wsConfig, refusedOrigin, rawWs,
	wsSummary, liveSessions, wsScenarios,
} from './harness.mjs';

const carrier = 'wst';

// The pid of the process whose owner holds a visitor's live session.
async function ownerPid(server, visitor) {
	const rows = await server.sql('SELECT o.pid AS pid FROM sessions s ' +
	    'JOIN owners o ON o.id = s.owner WHERE s.ended IS NULL AND ' +
	    `s.visitor = '${visitor}'`);
	return rows.map((r) => r.pid);
}

describe('mod_wstunnel, layout (a): lighttpd runs herenow --tunnel',
    () => {
	let server;
	before(async () => {
		server = await startServer({ name: 'wst-spawn', tunnel: 'spawn',
		    config: wsConfig });
	});
	afterEach(() => {
		server?.closeReaders();
	});
	after(async () => {
		await server?.stop();
	});

	wsScenarios(test, () => server, carrier, { frames: false });

	test('the tunnel process is lighttpd\'s child and counts in the same table',
	    { timeout: 60000 }, async () => {
		await waitFor(() => server.childrenOf('tunnel').length === 1,
		    10000, 'one herenow --tunnel process');
		const [tunnel] = server.childrenOf('tunnel');
		const [fcgi] = server.children();
		const page = '/wst/owner';
		const ws = server.wsReader({ carrier, page });
		const sse = server.reader({ page });
		await waitFor(() => ws.readers() === 2 && sse.readers() === 2,
		    10000, 'the WebSocket and SSE readers at 2',
		    () => wsSummary([ws, sse]));
		assert.deepEqual(await ownerPid(server, ws.visitor), [tunnel]);
		assert.deepEqual(await ownerPid(server, sse.visitor), [fcgi]);
	});

	test('wstunnel.origins (herenow\'s origins): another origin gets lighttpd\'s 403, no Origin its 400',
	    { timeout: 60000 }, async () => {
		const page = '/wst/origin';
		const bad = server.wsReader({ carrier, page,
		    origin: refusedOrigin });
		await waitFor(() => bad.refused || bad.opened, 10000,
		    'an answer');
		assert.equal(bad.opened, false, 'a foreign origin was let in');
		assert.equal(bad.refused.status, 403, bad.refused.body);
		const none = server.wsReader({ carrier, page, origin: null });
		await waitFor(() => none.refused || none.opened, 10000,
		    'an answer');
		assert.equal(none.refused?.status, 400,
		    'a handshake without Origin');
		assert.deepEqual(await liveSessions(server, bad.visitor), []);
		for (const origin of wsConfig.origins.split(' ')) {
			const ok = server.wsReader({ carrier, page, origin });
			await waitFor(() => ok.readers() === 1, 10000,
			    `${origin} let in and counted`);
			ok.close();
		}
	});

	test('JSON values cut across messages, or several in one, are read as one stream',
	    { timeout: 60000 }, async () => {
		const page = '/wst/split';
		const other = server.wsReader({ carrier, page });
		const r = server.wsReader({ carrier, page, hello: false });
		const hello = JSON.stringify({ type: 'hello', page,
		    visitor: r.visitor });
		r.ws.on('open', () => {
			r.send(hello.slice(0, 7));
			r.send(hello.slice(7, 30));
			r.send(hello.slice(30));
		});
		await waitFor(() => r.readers() === 2 && other.readers() === 2,
		    10000, 'the cut hello to count', () => wsSummary([r, other]));
		// A watch and a page message in one WebSocket message.
		r.page = '/wst/split/b';
		r.send(JSON.stringify({ type: 'watch', pages: ['/wst/split/w'] }) +
		    '\n' + JSON.stringify({ type: 'page', page: r.page }));
		await waitFor(() => r.readers() === 1 &&
		    r.count('/wst/split/w')?.readers === 0 &&
		    other.readers(page) === 1, 10000,
		    'the watch and the move both done',
		    () => JSON.stringify([...r.latest.values()]));
		assert.deepEqual(r.errors, []);
	});

	test('what lighttpd does not check reaches herenow as bytes: binary, bad UTF-8, 5000 bytes',
	    { timeout: 60000 }, async () => {
		// lighttpd passes a binary message's payload and any text
		// payload on as it is: herenow refuses what is not JSON, and a
		// value over 4096 bytes.
		const page = '/wst/bytes';
		const good = server.wsReader({ carrier, page });
		await waitFor(() => good.readers() === 1, 10000, 'a good reader');
		const url = server.wsUrl(carrier);
		const cases = [
			['bad_json', 'binary garbage', (r) => r.sendFrame(0x2,
			    Buffer.from([0x00, 0xff, 0x10, 0x80]))],
			['bad_json', 'text that is not UTF-8', (r) => r.sendFrame(0x1,
			    Buffer.from('{"type":"hello","page":"/a\xff"}', 'latin1'))],
			['too_big', 'a 5000-byte value', (r) => r.sendText(
			    JSON.stringify({ type: 'hello', page,
			    visitor: 'x'.repeat(5000) }))],
		];
		for (const [code, what, act] of cases) {
			const r = await rawWs(url, { origin: server.origin });
			act(r);
			await r.closedByServer();
			await waitFor(() => r.ended, 10000,
			    `${what}: the connection to close`);
			const errors = r.errorLines();
			assert.equal(errors.length, 1, `${what}: ${JSON.stringify(
			    r.lines())}`);
			assert.equal(errors[0].code, code, `${what}: ` +
			    JSON.stringify(errors[0]));
			assert.deepEqual(r.counts(), [], `${what}: counted`);
		}
		assert.equal(good.closed, false);
		assert.equal(good.readers(), 1);
	});

	test('a malformed frame is lighttpd\'s to close; herenow and the other readers go on',
	    { timeout: 60000 }, async () => {
		const page = '/wst/frames';
		const good = server.wsReader({ carrier, page });
		await waitFor(() => good.readers() === 1, 10000, 'a good reader');
		const r = await rawWs(server.wsUrl(carrier),
		    { origin: server.origin });
		const visitor = newVisitor('unmasked');
		r.sendText(JSON.stringify({ type: 'hello', page, visitor }),
		    { mask: false });
		await r.closedByServer();
		await waitFor(() => r.ended, 10000, 'the connection to close');
		// lighttpd 1.4.69 answers with a close frame whose payload is
		// the text "1000" (not a close code): the "malformed close
		// code" of DESIGN §3.
		if (r.closeFrame)
			assert.equal(r.closeFrame.payload.toString('latin1'), '1000');
		assert.deepEqual(r.counts(), []);
		assert.deepEqual(await liveSessions(server, visitor), []);
		const again = server.wsReader({ carrier, page });
		await waitFor(() => good.readers() === 2 && again.readers() === 2,
		    10000, 'a new reader counted after it',
		    () => wsSummary([good, again]));
		assert.equal(good.closed, false);
	});

	test('a plain GET of the tunnel endpoint is not passed to herenow',
	    { timeout: 30000 }, async () => {
		const res = await fetch(server.url('/herenow/wst'));
		assert.equal(res.status, 404);
	});
});

describe('mod_wstunnel, layout (b): the FastCGI process listens on tunnel_listen',
    () => {
	let server;
	before(async () => {
		server = await startServer({ name: 'wst-listen', tunnel: 'listen',
		    config: wsConfig });
	});
	afterEach(() => {
		server?.closeReaders();
	});
	after(async () => {
		await server?.stop();
	});

	wsScenarios(test, () => server, carrier, { frames: false });

	test('no tunnel process: the FastCGI process holds the tunnel readers',
	    { timeout: 60000 }, async () => {
		assert.deepEqual(server.childrenOf('tunnel'), []);
		const [fcgi] = server.children();
		const page = '/wst/one-process';
		const ws = server.wsReader({ carrier, page });
		const sse = server.reader({ page });
		await waitFor(() => ws.readers() === 2 && sse.readers() === 2,
		    10000, 'the WebSocket and SSE readers at 2',
		    () => wsSummary([ws, sse]));
		assert.deepEqual(await ownerPid(server, ws.visitor), [fcgi]);
		assert.deepEqual(await ownerPid(server, sse.visitor), [fcgi]);
	});
});
