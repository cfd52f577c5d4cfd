// A webhook receiver for tests/integration/test_webhooks.py, on 127.0.0.1.
//
//   node receiver.mjs LOG SECRETS PORTFILE
//
// Every request is verified, unmodified, with the standardwebhooks package
// (Webhook.verify) and with the openai SDK (client.webhooks.unwrap), once
// for each secret SECRETS (a JSON file, read at each request) lists for the
// request's path: {"/ok/a": ["whsec_...", ...]}.  Each request is appended
// to LOG as one JSON line: path, the webhook-* headers, the body, the
// results of both verifiers per secret, the status answered.  The first
// segment of the path says how to answer:
//   ok        200
//   flaky     500 to the first delivery of a webhook-id, then 200
//   throttle  429 with Retry-After: 2 to the first, then 200
//   gone      410
//   hang      no answer at all to the first delivery of a webhook-id, then 200
// The listening port is written to PORTFILE.
import fs from 'node:fs';
import http from 'node:http';
import OpenAI from 'openai';
import { Webhook } from 'standardwebhooks';

const [logPath, secretsPath, portFile] = process.argv.slice(2);
const client = new OpenAI({ apiKey: 'unused', baseURL: 'http://127.0.0.1:9/v1' });
const seen = new Map();

function secretsFor(path) {
	try {
		return JSON.parse(fs.readFileSync(secretsPath, 'utf8'))[path] || [];
	} catch {
		return [];
	}
}

const server = http.createServer((req, res) => {
	const chunks = [];
	req.on('data', (c) => chunks.push(c));
	req.on('end', async () => {
		const body = Buffer.concat(chunks).toString('utf8');
		const h = {
			'webhook-id': req.headers['webhook-id'],
			'webhook-timestamp': req.headers['webhook-timestamp'],
			'webhook-signature': req.headers['webhook-signature'],
		};
		const standard = [];
		const openai = [];
		for (const secret of secretsFor(req.url)) {
			try {
				new Webhook(secret).verify(body, h);
				standard.push(true);
			} catch (e) {
				standard.push(String(e.message || e));
			}
			try {
				const ev = await client.webhooks.unwrap(body, req.headers, secret);
				openai.push(ev && ev.id === h['webhook-id'] ? true : 'parsed a different id');
			} catch (e) {
				openai.push(String(e.message || e));
			}
		}
		const mode = req.url.split('/')[1];
		const key = req.url + ' ' + h['webhook-id'];
		const n = (seen.get(key) || 0) + 1;
		seen.set(key, n);
		let status = 200;
		const extra = {};
		if (mode === 'flaky' && n === 1) status = 500;
		else if (mode === 'throttle' && n === 1) {
			status = 429;
			extra['Retry-After'] = '2';
		} else if (mode === 'gone') status = 410;
		else if (mode === 'hang' && n === 1) status = 0;
		fs.appendFileSync(logPath, JSON.stringify({
			path: req.url, method: req.method, headers: {
				...h, 'content-type': req.headers['content-type'],
				'user-agent': req.headers['user-agent'],
			}, body, standard, openai, status, at: Date.now() / 1000,
		}) + '\n');
		if (status === 0)
			return; // hold the connection: the sender's timeout ends it
		res.writeHead(status, { 'Content-Type': 'text/plain', ...extra });
		res.end(status === 200 ? 'ok' : 'no');
	});
});
server.listen(0, '127.0.0.1', () => {
	fs.writeFileSync(portFile, String(server.address().port));
});
