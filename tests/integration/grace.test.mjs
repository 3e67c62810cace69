// leave_grace: a reader who reconnects (a reload) within the grace takes
// their old session over, so nobody else ever sees the count dip.

import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, openReaders, waitFor, holdFor, summary, newVisitor,
    ms, sleep } from './harness.mjs';

let server;
let grace;
let gap;
before(async () => {
	server = await startServer({ name: 'grace' });
	grace = ms(server.config.leave_grace);
	gap = Math.max(Math.floor(grace / 4), 50);
});
afterEach(() => {
	// A failed test must not leave its readers in the next one's counts.
	server?.closeReaders();
});
after(async () => {
	await server?.stop();
});

test('a reconnect within leave_grace never shows a lower count to the other readers',
    { timeout: 60000 }, async () => {
	const page = '/post/reload';
	const others = openReaders(server, 5, page);
	const visitor = newVisitor('reload');
	let mine = server.reader({ page, visitor });
	await waitFor(() => [...others, mine].every((r) => r.readers() === 6),
	    10000, 'everyone to show 6', () => summary([...others, mine]));

	for (let round = 0; round < 3; round++) {
		const mark = Date.now();
		mine.close();
		// A reload takes a moment between the old page's stream
		// closing and the new one's opening: the leave reaches herenow
		// first, and without the grace it would be announced at once.
		await sleep(gap);
		mine = server.reader({ page, visitor });
		// Watch well past the grace: a leave that was not taken over
		// would be announced by then.
		await holdFor(() => {
			for (const r of others) {
				const seen = r.since(mark).map((c) => c.readers);
				assert.ok(seen.every((n) => n >= 6),
				    `round ${round}: a reader saw ${seen.join(',')}`);
			}
		}, grace * 3 + 1000);
		await waitFor(() => mine.readers() === 6, 10000,
		    'the reconnected reader to show 6', () => summary([mine]));
		for (const r of others)
			assert.equal(r.readers(), 6);
	}

	// Without a reconnect the leave is announced, after the grace.
	const left = Date.now();
	mine.close();
	await waitFor(() => others.every((r) => r.readers() === 5), 10000,
	    'the others to show 5 once the grace ran out', () => summary(others));
	const firstFive = Math.min(...others.map((r) =>
	    r.history.find((h) => h.at >= left && h.count.readers === 5).at));
	assert.ok(firstFive - left >= grace - 50,
	    `the leave was announced ${firstFive - left} ms after the close, ` +
	    `before leave_grace (${grace} ms)`);
	server.closeReaders();
});
