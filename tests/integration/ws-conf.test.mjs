// The lighttpd snippets in conf/, filled in as `make` does, pass lighttpd's
// own check (`lighttpd -tt`) on this lighttpd: the one for 1.4.50 - 1.4.73
// in both tunnel layouts, the one for 1.4.74 and later (whose "upgrade"
// line 1.4.69 accepts without using), and the CGI one.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import {
	repo, herenowBin, fill, tunnelLayout, wstOrigins,
} from './harness.mjs';

const execFileP = promisify(execFile);
let dir;

before(() => {
	dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hn-conf-'));
});
after(() => {
	fs.rmSync(dir, { recursive: true, force: true });
});

const values = () => ({
	HERENOW_BIN: herenowBin,
	HERENOW_CONFIG: path.join(dir, 'herenow.conf'),
	HERENOW_SOCKET: path.join(dir, 'herenow.sock'),
	HERENOW_TUNNEL_SOCKET: path.join(dir, 'tunnel.sock'),
	HERENOW_MAX_PROCS: 2,
	HERENOW_WWW: path.join(repo, 'www'),
	HERENOW_WST_ORIGINS: '',
	HERENOW_CGI_DIR: path.join(dir, 'cgi-bin'),
});

// Writes snippet into a whole lighttpd.conf and runs lighttpd -tt on it;
// returns lighttpd -p's view of it.
async function check(name, snippet) {
	const file = path.join(dir, `${name}.conf`);
	fs.writeFileSync(file, snippet);
	const conf = path.join(dir, `lighttpd-${name}.conf`);
	fs.writeFileSync(conf, fill(
	    path.join(repo, 'conf', 'lighttpd-standalone.conf.in'), {
		HERENOW_PORT: 8080,
		HERENOW_DOCROOT: path.join(repo, 'www'),
		HERENOW_STATE: dir,
		HERENOW_SNIPPET: file,
	}));
	try {
		await execFileP('lighttpd', ['-tt', '-f', conf]);
	} catch (err) {
		assert.fail(`lighttpd -tt refuses ${name}:\n${err.stderr}`);
	}
	const { stdout } = await execFileP('lighttpd', ['-p', '-f', conf]);
	return stdout;
}

const template = (name) => path.join(repo, 'conf', name);

test('lighttpd-herenow.conf: as installed (tunnel process of its own)',
    { timeout: 30000 }, async () => {
	const out = await check('spawn', fill(
	    template('lighttpd-herenow.conf.in'), values()));
	assert.match(out, /"bin-path"\s*=> "[^"]*herenow --tunnel"/);
	assert.match(out, /wstunnel\.frame-type\s*= "text"/);
	assert.match(out, /wstunnel\.ping-interval\s*= \d+/);
	assert.match(out, /"tcp-fin-propagate"\s*=> "enable"/);
});

test('lighttpd-herenow.conf: layout (b), the lines marked (a) deleted',
    { timeout: 30000 }, async () => {
	const out = await check('listen', tunnelLayout(fill(
	    template('lighttpd-herenow.conf.in'), values()), 'listen'));
	assert.doesNotMatch(out, /--tunnel/);
	assert.match(out, /wstunnel\.server[\s\S]*"socket"/);
});

test('lighttpd-herenow.conf: wstunnel.origins from herenow\'s origins',
    { timeout: 30000 }, async () => {
	const out = await check('origins', fill(
	    template('lighttpd-herenow.conf.in'), { ...values(),
		HERENOW_WST_ORIGINS: wstOrigins('https://blog.example ' +
		    'https://www.blog.example') }));
	assert.match(out, /wstunnel\.origins\s*= \(\s*"https:\/\/blog\.example",\s*"https:\/\/www\.blog\.example",?\s*\)/);
});

test('lighttpd-herenow-upgrade.conf (1.4.74 and later) passes -tt here too',
    { timeout: 30000 }, async () => {
	const out = await check('upgrade', fill(
	    template('lighttpd-herenow-upgrade.conf.in'), values()));
	assert.match(out, /"upgrade"\s*=> "enable"/);
	assert.match(out, /"HERENOW_FASTCGI_UPGRADE"\s*=> "on"/);
	assert.doesNotMatch(out, /wstunnel/);
});

test('lighttpd-cgi.conf', { timeout: 30000 }, async () => {
	const out = await check('cgi', fill(
	    template('lighttpd-cgi.conf.in'), values()));
	assert.match(out, /cgi\.upgrade\s*= "enable"/);
	assert.match(out, /url\.access-deny\s*= \(\s*"\.conf"/);
});

test('herenow accepts the settings the snippets give it', { timeout: 30000 },
    async () => {
	const conf = path.join(dir, 'herenow.conf');
	fs.writeFileSync(conf, `db = ${path.join(dir, 'h.db')}\n` +
	    `tunnel_listen = unix:${path.join(dir, 'tunnel.sock')}\n` +
	    'origins = https://blog.example https://www.blog.example\n');
	const env = { PATH: process.env.PATH, HERENOW_CONFIG: conf,
	    HERENOW_FASTCGI_UPGRADE: 'on' };
	await execFileP(herenowBin, ['--check-config'], { env });
});
