// SDK conformance: reelgate driven by the official `openai` npm package,
// unmodified, in two generations installed side by side (package.json):
//   openai7  7.x        create always multipart/form-data, nested fields in
//                       bracket form (input_reference[image_url], metadata[k])
//   openai6  6.2-6.27   create as JSON unless a file is attached
// Each generation gets its own describe() with the same scenarios.  The
// client is configured with baseURL and apiKey only; everything else is the
// SDK's default (retries included).
//
// Run by tests/integration/test_sdk.py, which starts reelgate + nginx,
// makes the keys and sets the environment:
//   REELGATE_BASE_URL     .../v1 (required)
//   REELGATE_KEY          an API key (required)
//   REELGATE_SDKS         generations to run, default "openai7,openai6"
//   REELGATE_MODEL        the local model (default reelgate-local)
//   REELGATE_OTHER_KEYS   JSON {alias: key}: a fresh key per generation, for
//                         exact listing and isolation (else those skip)
//   REELGATE_REVOKED_KEY  a revoked key (optional)
//   REELGATE_CONTENT_DIR  data_dir/content, to compare downloads with the
//                         stored files (optional)
//   REELGATE_UPLOADS_DIR  data_dir/uploads, to find the uploaded PNG (optional)
//   REELGATE_IMAGE_URL    an http(s) URL of a PNG (default: an example.com URL;
//                         the local model never fetches it)
//   REELGATE_CAPTURE_URL  the capture proxy's control URL: what the SDK put
//                         on the wire (optional; wire checks skip without it)
//   REELGATE_RATE_LIMITS  JSON {alias: {key, requests, op: "create"|"list"}}:
//                         a key whose per-key limit is `requests` (else skip)
//
//   node --test --test-reporter=tap videos.test.mjs

import { describe, it as nodeIt } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';

const BASE = process.env.REELGATE_BASE_URL;
const KEY = process.env.REELGATE_KEY;
const MODEL = process.env.REELGATE_MODEL || 'reelgate-local';
const SDKS = (process.env.REELGATE_SDKS || 'openai7,openai6').split(',').map((s) => s.trim()).filter(Boolean);
const OTHER_KEYS = JSON.parse(process.env.REELGATE_OTHER_KEYS || '{}');
const REVOKED_KEY = process.env.REELGATE_REVOKED_KEY || '';
const CONTENT_DIR = process.env.REELGATE_CONTENT_DIR || '';
const UPLOADS_DIR = process.env.REELGATE_UPLOADS_DIR || '';
const IMAGE_URL = process.env.REELGATE_IMAGE_URL || 'https://example.com/reelgate-sdk-test.png';
const CAPTURE = process.env.REELGATE_CAPTURE_URL || '';
const RATE_LIMITS = JSON.parse(process.env.REELGATE_RATE_LIMITS || '{}');
const NO_LIMIT = 'reelgate has no per-key limit configured';

const VIDEO_FIELDS = ['id', 'object', 'model', 'status', 'progress', 'created_at', 'completed_at',
  'expires_at', 'prompt', 'size', 'seconds', 'remixed_from_video_id', 'error'];
const EXT = { video: 'mp4', thumbnail: 'webp', spritesheet: 'jpg' };
const CTYPE = { video: 'video/mp4', thumbnail: 'image/webp', spritesheet: 'image/jpeg' };
// docs/api.md: the codes a 400 may carry.
const CODES_400 = ['invalid_value', 'missing_required_parameter', 'model_not_found', 'unsupported_value',
  'unknown_parameter', 'invalid_json', 'conflicting_parameters', 'invalid_body'];
const SMALL = { seconds: '1', size: '320x180' };   // OpenAI's own fields
const WAIT_MS = 60000;

/** node:test's it() with a time limit per scenario (no scenario hangs the run). */
function it(name, opts, fn) {
  if (typeof opts === 'function') [opts, fn] = [{}, opts];
  return nodeIt(name, { timeout: 90000, ...opts }, fn);
}

if (!BASE || !KEY) {
  throw new Error('set REELGATE_BASE_URL (.../v1) and REELGATE_KEY; tests/integration/test_sdk.py does');
}

// ------------------------------------------------------------------ helpers

/** A valid RGB PNG (zlib only). */
function pngBytes(width, height, rgb) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array(width).fill(rgb).flat())]);
  const raw = Buffer.concat(Array(height).fill(row));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tag = () => Math.random().toString(36).slice(2, 10);

/** Checks a video object (all 13 OpenAI fields + metadata); returns it. */
function expectVideo(v, status = 'queued') {
  assert.equal(typeof v, 'object', 'a video object');
  for (const f of VIDEO_FIELDS) assert.ok(f in v, `video object lacks ${f}: ${JSON.stringify(v)}`);
  assert.ok('metadata' in v, 'video object lacks metadata');
  assert.equal(v.object, 'video');
  assert.match(v.id, /^video_[0-9a-z]+$/);
  assert.equal(typeof v.created_at, 'number');
  assert.equal(typeof v.seconds, 'string', 'seconds is a string');
  assert.match(v.size, /^\d+x\d+$/);
  if (status) assert.equal(v.status, status, `status of ${v.id}`);
  if (v.status === 'queued') {
    assert.equal(v.progress, 0);
    assert.equal(v.completed_at, null);
    assert.equal(v.error, null);
  }
  return v;
}

/** Polls retrieve() until the video is completed or failed (the Node SDK
 * has no poll helper); fails on failed or after WAIT_MS. */
async function waitDone(client, id, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  const seen = [];
  for (;;) {
    const v = await client.videos.retrieve(id);
    expectVideo(v, null);
    const st = `${v.status}:${v.progress}`;
    if (seen.at(-1) !== st) seen.push(st);
    if (v.status === 'completed') return v;
    if (v.status === 'failed') assert.fail(`${id} failed: ${JSON.stringify(v.error)}`);
    if (Date.now() > deadline) assert.fail(`${id} not completed within ${ms} ms; seen ${seen.join(' ')}`);
    await sleep(100);
  }
}

/** The expected SDK error: class, status, OpenAI's envelope fields. */
async function expectError(promise, Cls, status, want = {}) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected ${Cls.name} (${status}), the call succeeded`);
  assert.ok(err instanceof Cls, `expected ${Cls.name}, got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.status, status, 'HTTP status');
  assert.ok(err.error && typeof err.error === 'object', `no error envelope: ${err.message}`);
  for (const k of ['message', 'type', 'param', 'code']) {
    assert.ok(k in err.error, `error.${k} missing: ${JSON.stringify(err.error)}`);
  }
  assert.equal(err.type, status === 429 ? 'requests' : status >= 500 ? 'server_error' : 'invalid_request_error');
  if ('param' in want) assert.equal(err.param, want.param, `error.param (${err.message})`);
  if ('code' in want) assert.equal(err.code, want.code, `error.code (${err.message})`);
  assert.ok(err.requestID, 'the SDK read no x-request-id');
  return err;
}

// --- the MP4 the renderer made: duration, size and frames from its boxes.
function mp4Info(buf) {
  const info = {};
  const containers = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl']);
  const walk = (start, end, trak) => {
    let off = start;
    while (off + 8 <= end) {
      let size = buf.readUInt32BE(off);
      const type = buf.toString('latin1', off + 4, off + 8);
      let head = 8;
      if (size === 1) {
        size = Number(buf.readBigUInt64BE(off + 8));
        head = 16;
      } else if (size === 0) {
        size = end - off;
      }
      if (size < head) break;
      const body = off + head;
      if (type === 'trak') trak = {};
      if (containers.has(type)) {
        walk(body, off + size, trak);
        if (type === 'trak' && trak.handler === 'vide') info.video = trak;
      } else if (type === 'mvhd') {
        const v = buf[body];
        info.timescale = buf.readUInt32BE(body + (v ? 20 : 12));
        info.duration = v ? Number(buf.readBigUInt64BE(body + 24)) : buf.readUInt32BE(body + 16);
      } else if (type === 'tkhd' && trak) {
        trak.width = buf.readUInt32BE(off + size - 8) / 65536;
        trak.height = buf.readUInt32BE(off + size - 4) / 65536;
      } else if (type === 'mdhd' && trak) {
        const v = buf[body];
        trak.timescale = buf.readUInt32BE(body + (v ? 20 : 12));
        trak.duration = v ? Number(buf.readBigUInt64BE(body + 24)) : buf.readUInt32BE(body + 16);
      } else if (type === 'hdlr' && trak) {
        trak.handler = buf.toString('latin1', body + 8, body + 12);
      } else if (type === 'stsz' && trak) {
        trak.frames = buf.readUInt32BE(body + 8);
      }
      off += size;
    }
  };
  walk(0, buf.length, null);
  assert.ok(info.video, 'no video track in the MP4');
  const seconds = info.video.duration / info.video.timescale;
  return { width: info.video.width, height: info.video.height, frames: info.video.frames, seconds,
    fps: Math.round(info.video.frames / seconds) };
}

// --- what the SDK put on the wire, from the capture proxy (test_sdk.py).
async function captured(from) {
  const r = await fetch(`${CAPTURE}/requests?from=${from}`);
  assert.equal(r.status, 200, 'capture proxy');
  return r.json();
}

/** Runs fn and returns [its result, the requests it sent] (requests null
 * when there is no capture proxy).  Each request: {method, path,
 * content_type, retry_count, user_agent, status, json, form}; form is a
 * list of [name, value] with a file part's value {filename, content_type,
 * size}. */
async function onWire(fn) {
  const mark = CAPTURE ? (await captured(0)).next : 0;
  let result;
  let error;
  try {
    result = await fn();
  } catch (e) {
    error = e;
  }
  const reqs = CAPTURE ? (await captured(mark)).requests : null;
  if (error) {
    error.wire = reqs;
    throw error;
  }
  return [result, reqs];
}

/** The one request a call made: never retried by the SDK. */
function single(reqs, what) {
  if (!reqs) return null;
  assert.equal(reqs.length, 1, `${what}: the SDK sent ${reqs.length} requests (retries: `
    + `${JSON.stringify(reqs.map((r) => [r.method, r.path, r.status, r.retry_count]))})`);
  return reqs[0];
}

const formField = (req, name) => {
  const f = (req.form || []).find(([n]) => n === name);
  return f ? f[1] : undefined;
};

// ------------------------------------------------------------ the scenarios

for (const alias of SDKS) {
  const mod = await import(alias);
  const { VERSION } = await import(`${alias}/version`);
  const OpenAI = mod.default;
  const { toFile } = mod;
  const major = Number(VERSION.split('.')[0]);
  const multipartAlways = major >= 7 || (major === 6 && Number(VERSION.split('.')[1]) >= 28);
  const client = new OpenAI({ baseURL: BASE, apiKey: KEY });

  describe(`${alias} (openai ${VERSION})`, () => {
    const png = pngBytes(64, 36, [30, 120, 200]);
    const made = {};       // scenario -> video object as created
    const done = {};       // scenario -> completed video object

    /** What a create must have looked like on the wire. */
    function checkCreateWire(req, { file = false } = {}) {
      if (!req) return;
      assert.equal(req.method, 'POST');
      assert.equal(req.path, '/v1/videos');
      if (file || multipartAlways) {
        assert.match(req.content_type, /^multipart\/form-data; boundary=/,
          `openai ${VERSION} sends this create as multipart`);
        const names = req.form.map(([n]) => n);
        assert.ok(names.every((n) => !n.includes('.')), `no dotted names: ${names}`);
        return 'multipart';
      }
      assert.match(req.content_type, /^application\/json/, `openai ${VERSION} sends this create as JSON`);
      return 'json';
    }

    it('create: text only (prompt, model, seconds, size)', async () => {
      const prompt = `a lighthouse at night ${tag()}`;
      const [res, reqs] = await onWire(() => client.videos.create({ prompt, model: MODEL, ...SMALL }).withResponse());
      const v = expectVideo(res.data);
      assert.equal(v.prompt, prompt);
      assert.equal(v.model, MODEL);
      assert.equal(v.seconds, '1');
      assert.equal(v.size, '320x180');
      assert.equal(v.remixed_from_video_id, null);
      assert.ok(res.response.headers.get('x-request-id'), 'X-Request-Id');
      assert.equal(v._request_id, res.response.headers.get('x-request-id'), '_request_id');
      const req = single(reqs, 'create');
      if (checkCreateWire(req) === 'multipart') {
        assert.equal(formField(req, 'prompt'), prompt);
        assert.equal(formField(req, 'seconds'), '1');
      } else if (req) {
        assert.deepEqual(req.json, { prompt, model: MODEL, ...SMALL });
      }
      made.text = v;
    });

    it('create: input_reference as a file via toFile (PNG)', async () => {
      const before = UPLOADS_DIR ? uploadsEqualTo(png) : 0;
      const file = await toFile(png, 'ref.png', { type: 'image/png' });
      const [v, reqs] = await onWire(() => client.videos.create({
        prompt: `the picture comes alive ${tag()}`, ...SMALL, input_reference: file }));
      expectVideo(v);
      const req = single(reqs, 'create with a file');
      if (req) {
        checkCreateWire(req, { file: true });
        assert.deepEqual(formField(req, 'input_reference'),
          { filename: 'ref.png', content_type: 'image/png', size: png.length }, 'the file part');
      }
      if (UPLOADS_DIR) assert.equal(uploadsEqualTo(png), before + 1, 'the PNG stored under data_dir/uploads');
      made.file = v;
    });

    it('create: input_reference as fs.createReadStream, and via toFile without a type', async (t) => {
      // 7.x streams a ReadStream upload (Transfer-Encoding: chunked); both
      // send a part without a type as application/octet-stream.
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'reelgate-sdk-')), 'picture.png');
      fs.writeFileSync(file, png);
      try {
        const before = UPLOADS_DIR ? uploadsEqualTo(png) : 0;
        const [v, reqs] = await onWire(() => client.videos.create({
          prompt: `a streamed picture ${tag()}`, ...SMALL, input_reference: fs.createReadStream(file) }));
        expectVideo(v);
        const req = single(reqs, 'create with a ReadStream');
        if (req) {
          checkCreateWire(req, { file: true });
          const part = formField(req, 'input_reference');
          assert.equal(part?.filename, 'picture.png', 'the file part');
          assert.equal(part?.size, png.length, 'the file part size');
          t.diagnostic(`openai ${VERSION}: ReadStream upload sent ${req.chunked ? 'chunked' : 'with Content-Length'}, part type ${part?.content_type}`);
        }
        const [w, reqs2] = await onWire(async () => client.videos.create({
          prompt: `an untyped picture ${tag()}`, ...SMALL, input_reference: await toFile(fs.readFileSync(file), 'untyped.png') }));
        expectVideo(w);
        const req2 = single(reqs2, 'create with an untyped file');
        if (req2) assert.equal(formField(req2, 'input_reference')?.content_type, 'application/octet-stream');
        if (UPLOADS_DIR) assert.equal(uploadsEqualTo(png), before + 2, 'both PNGs stored under data_dir/uploads');
        made.stream = v;
        made.untyped = w;
      } finally {
        fs.rmSync(path.dirname(file), { recursive: true, force: true });
      }
    });

    it('create: input_reference {image_url: http(s) URL}', async () => {
      const [v, reqs] = await onWire(() => client.videos.create({
        prompt: `from a URL ${tag()}`, ...SMALL, input_reference: { image_url: IMAGE_URL } }));
      expectVideo(v);
      assert.equal(v.metadata?.image_url, IMAGE_URL, 'metadata.image_url');
      const req = single(reqs, 'create with image_url');
      if (checkCreateWire(req) === 'multipart') {
        assert.equal(formField(req, 'input_reference[image_url]'), IMAGE_URL, 'bracket form');
      } else if (req) {
        assert.deepEqual(req.json.input_reference, { image_url: IMAGE_URL });
      }
      made.url = v;
    });

    it('create: input_reference {image_url: data: URL}', async () => {
      const dataUrl = `data:image/png;base64,${png.toString('base64')}`;
      const before = UPLOADS_DIR ? uploadsEqualTo(png) : 0;
      const [v, reqs] = await onWire(() => client.videos.create({
        prompt: `from a data URL ${tag()}`, ...SMALL, input_reference: { image_url: dataUrl } }));
      expectVideo(v);
      assert.ok(!String(v.metadata?.image_url ?? '').startsWith('data:'), 'a data URL is not echoed');
      const req = single(reqs, 'create with a data URL');
      if (checkCreateWire(req) === 'multipart') {
        assert.equal(formField(req, 'input_reference[image_url]'), dataUrl, 'bracket form');
      } else if (req) {
        assert.deepEqual(req.json.input_reference, { image_url: dataUrl });
      }
      if (UPLOADS_DIR) assert.equal(uploadsEqualTo(png), before + 1, 'the decoded PNG stored under data_dir/uploads');
      made.data = v;
    });

    it('create: the seed fields as extra body params (duration, width, height, fps, seed, n, metadata)', async () => {
      // The Node SDK has no extra_body: params it does not know are sent
      // as they are (README "Undocumented request params"): JSON keys in
      // 6.x, form fields in 7.x, objects in bracket form.
      const metadata = { style: 'film', take: 'one' };
      const [v, reqs] = await onWire(() => client.videos.create({
        prompt: `seed fields ${tag()}`, duration: 2, width: 320, height: 180, fps: 12, seed: 42, n: 2, metadata }));
      expectVideo(v);
      assert.equal(v.seconds, '2', 'duration -> seconds');
      assert.equal(v.size, '320x180', 'width x height -> size');
      assert.equal(v.metadata.fps, 12, 'metadata.fps');
      assert.equal(v.metadata.seed, 42, 'metadata.seed');
      assert.equal(v.metadata.n, 2, 'metadata.n');
      assert.equal(v.metadata.style, 'film');
      assert.equal(v.metadata.take, 'one');
      assert.ok(Array.isArray(v.metadata.video_ids) && v.metadata.video_ids.length === 2, 'metadata.video_ids');
      assert.equal(v.metadata.video_ids[0], v.id, 'the response is the first of video_ids');
      const req = single(reqs, 'create with extra params');
      if (checkCreateWire(req) === 'multipart') {
        assert.equal(formField(req, 'metadata[style]'), 'film', 'bracket form');
        assert.equal(formField(req, 'n'), '2');
        assert.equal(formField(req, 'duration'), '2');
      } else if (req) {
        assert.deepEqual(req.json.metadata, metadata);
        assert.equal(req.json.n, 2);
      }
      made.seed = v;
    });

    it('create: the seed `image` field (base64 data URI) as an extra body param', async () => {
      const before = UPLOADS_DIR ? uploadsEqualTo(png) : 0;
      const [v, reqs] = await onWire(() => client.videos.create({
        prompt: `seed image ${tag()}`, ...SMALL, fps: 6, seed: 7, image: `data:image/png;base64,${png.toString('base64')}`,
        metadata: { mood: 'calm' } }));
      expectVideo(v);
      assert.equal(v.metadata.fps, 6);
      assert.equal(v.metadata.seed, 7);
      assert.equal(v.metadata.mood, 'calm');
      checkCreateWire(single(reqs, 'create with image'));
      if (UPLOADS_DIR) assert.equal(uploadsEqualTo(png), before + 1, 'the image stored under data_dir/uploads');
      made.image = v;
    });

    it('create: the `body` request option replaces the body (sent the same way)', async () => {
      const [v, reqs] = await onWire(() => client.videos.create({ prompt: 'replaced' },
        { body: { prompt: `request option body ${tag()}`, ...SMALL, fps: 8, metadata: { via: 'options' } } }));
      expectVideo(v);
      assert.match(v.prompt, /^request option body /);
      assert.equal(v.metadata.fps, 8);
      assert.equal(v.metadata.via, 'options');
      checkCreateWire(single(reqs, 'create with the body option'));
    });

    it('retrieve until completed (polling), every created video', async () => {
      assert.ok(Object.keys(made).length >= 8, 'the creates above failed');
      for (const [name, v] of Object.entries(made)) {
        const d = await waitDone(client, v.id);
        assert.equal(d.progress, 100);
        assert.equal(d.error, null);
        assert.ok(d.completed_at >= d.created_at, 'completed_at');
        assert.ok(d.expires_at > d.completed_at, 'expires_at');
        for (const f of ['id', 'model', 'prompt', 'size', 'seconds', 'created_at']) {
          assert.deepEqual(d[f], v[f], `${name}: ${f} after completion`);
        }
        done[name] = d;
      }
      for (const id of made.seed.metadata.video_ids.slice(1)) {
        const d = await waitDone(client, id);
        assert.equal(d.seconds, '2');
        assert.equal(d.size, '320x180');
        assert.equal(d.metadata.fps, 12);
        assert.equal(d.metadata.style, 'film');
        done.seed2 = d;
      }
    });

    it('the seed fields reached the renderer (MP4 size, duration, frames)', async () => {
      assert.ok(done.seed && done.seed2, 'the n=2 videos did not complete');
      for (const v of [done.seed, done.seed2]) {
        const res = await client.videos.downloadContent(v.id);
        const info = mp4Info(Buffer.from(await res.arrayBuffer()));
        assert.deepEqual([info.width, info.height], [320, 180], 'MP4 size');
        assert.equal(info.frames, 24, 'frames = 2 s x 12 fps');
        assert.ok(Math.abs(info.seconds - 2) < 0.1, `MP4 duration ${info.seconds}`);
      }
      const img = await client.videos.downloadContent(done.image.id);
      const info = mp4Info(Buffer.from(await img.arrayBuffer()));
      assert.equal(info.frames, 6, 'frames = 1 s x 6 fps');
    });

    it('downloadContent: video, thumbnail, spritesheet: the stored bytes', async () => {
      const v = done.text;
      assert.ok(v, 'the text video did not complete');
      for (const variant of ['video', 'thumbnail', 'spritesheet']) {
        const [res, reqs] = await onWire(() => client.videos.downloadContent(v.id, { variant }));
        assert.ok(res instanceof Response, 'downloadContent returns a fetch Response');
        assert.equal(res.status, 200);
        assert.equal((res.headers.get('content-type') || '').split(';')[0], CTYPE[variant], `Content-Type of ${variant}`);
        const body = Buffer.from(await res.arrayBuffer());
        assert.ok(body.length > 0, 'empty body');
        assert.equal(Number(res.headers.get('content-length')), body.length, 'Content-Length');
        const req = single(reqs, 'downloadContent');
        if (req) assert.equal(req.path, `/v1/videos/${v.id}/content?variant=${variant}`);
        if (CONTENT_DIR) {
          const stored = fs.readFileSync(path.join(CONTENT_DIR, `${v.id}.${EXT[variant]}`));
          assert.ok(stored.equals(body), `${variant}: the bytes differ from data_dir/content`);
        }
        const raw = await fetch(`${BASE}/videos/${v.id}/content?variant=${variant}`,
          { headers: { Authorization: `Bearer ${KEY}` } });
        assert.equal(raw.status, 200);
        assert.ok(Buffer.from(await raw.arrayBuffer()).equals(body), `${variant}: differs from a plain fetch`);
      }
      const dflt = await client.videos.downloadContent(v.id);
      assert.equal((dflt.headers.get('content-type') || '').split(';')[0], 'video/mp4', 'default variant');
      const mp4 = Buffer.from(await dflt.arrayBuffer());
      assert.equal(mp4.toString('latin1', 4, 8), 'ftyp');
      const info = mp4Info(mp4);
      assert.deepEqual([info.width, info.height], [320, 180], 'MP4 size');
      assert.ok(Math.abs(info.seconds - 1) < 0.1, `MP4 duration ${info.seconds}`);
    });

    it('remix: a new video from a completed one, inheriting its settings', async () => {
      const src = done.seed;
      assert.ok(src, 'no completed source');
      const prompt = `remixed ${tag()}`;
      const [v, reqs] = await onWire(() => client.videos.remix(src.id, { prompt }));
      expectVideo(v);
      assert.equal(v.remixed_from_video_id, src.id);
      assert.equal(v.prompt, prompt);
      for (const f of ['model', 'size', 'seconds']) assert.equal(v[f], src[f], `remix inherits ${f}`);
      assert.equal(v.metadata.fps, 12, 'remix inherits fps');
      assert.equal(v.metadata.seed, 42, 'remix inherits seed');
      const req = single(reqs, 'remix');
      if (req) {
        assert.equal(req.path, `/v1/videos/${src.id}/remix`);
        assert.match(req.content_type, /^application\/json/, 'remix is sent as JSON');
      }
      const d = await waitDone(client, v.id);
      assert.equal(d.remixed_from_video_id, src.id);
    });

    it('remix of an unfinished video: ConflictError, not retried by the SDK', async () => {
      // 20 s at 1280x720 renders for seconds: still unfinished when remixed.
      const slow = await client.videos.create({ prompt: `slow ${tag()}`, seconds: '20', size: '1280x720' });
      try {
        let reqs = null;
        let err;
        try {
          await onWire(() => client.videos.remix(slow.id, { prompt: 'too early' }));
        } catch (e) {
          err = e;
          reqs = e.wire;
        }
        await expectError(Promise.reject(err), mod.ConflictError, 409, { code: 'video_not_ready' });
        single(reqs, 'remix of an unfinished video');
        const [, dl] = await onWire(() => expectError(client.videos.downloadContent(slow.id), mod.NotFoundError, 404,
          { code: 'video_not_ready' }));
        single(dl, 'content of an unfinished video');
      } finally {
        await client.videos.delete(slow.id).catch(() => {});
      }
    });

    it('list: auto-pagination (for await, limit 2) over 3 pages in both orders; keys are isolated', {
      skip: OTHER_KEYS[alias] ? false : 'REELGATE_OTHER_KEYS has no key for this generation',
    }, async () => {
      const other = new OpenAI({ baseURL: BASE, apiKey: OTHER_KEYS[alias] });
      const ids = [];
      for (let i = 0; i < 5; i++) {
        ids.push((await other.videos.create({ prompt: `page ${i} ${tag()}`, ...SMALL })).id);
      }
      for (const order of ['asc', 'desc']) {
        const want = order === 'asc' ? ids : [...ids].reverse();
        const [seen, reqs] = await onWire(async () => {
          const out = [];
          for await (const v of other.videos.list({ limit: 2, order })) out.push(expectVideo(v, null).id);
          return out;
        });
        assert.deepEqual(seen, want, `for await, order ${order}`);
        if (reqs) {
          assert.equal(reqs.length, 3, `3 page requests for order ${order}: ${reqs.map((r) => r.path)}`);
          assert.ok(reqs.every((r) => r.retry_count === 0 && r.status === 200), 'no retries');
          assert.equal(reqs[1].path, `/v1/videos?limit=2&order=${order}&after=${want[1]}`, 'the 2nd page asks after last_id');
        }
        let page = await other.videos.list({ limit: 2, order });
        const pages = [page.data.map((v) => v.id)];
        while (page.hasNextPage()) {
          page = await page.getNextPage();
          pages.push(page.data.map((v) => v.id));
        }
        assert.deepEqual(pages, [want.slice(0, 2), want.slice(2, 4), want.slice(4)], `pages, order ${order}`);
        assert.equal(page.has_more, false);
      }
      const first = await other.videos.list();
      assert.deepEqual(first.data.map((v) => v.id), [...ids].reverse(), 'default: desc, all 5');
      assert.equal(first.has_more, false, 'has_more with every video on the page');
      // A page that ends exactly at the last video says so: no empty page.
      for (const limit of [5, 1]) {
        const [seen, reqs] = await onWire(async () => {
          const out = [];
          for await (const v of other.videos.list({ limit, order: 'asc', after: ids[limit === 5 ? 0 : 3] })) out.push(v.id);
          return out;
        });
        assert.deepEqual(seen, limit === 5 ? ids.slice(1) : ids.slice(4), `limit ${limit} after an id`);
        if (reqs) assert.equal(reqs.length, 1, `limit ${limit}: one page, no request for an empty one`);
      }
      // Isolation: another key's video is a 404; lists do not mix.
      if (made.text) {
        await expectError(other.videos.retrieve(made.text.id), mod.NotFoundError, 404, { code: 'not_found' });
        const mine = [];
        for await (const v of client.videos.list({ limit: 100 })) mine.push(v.id);
        assert.ok(mine.includes(made.text.id), 'my own video is listed');
        assert.ok(!ids.some((id) => mine.includes(id)), 'another key\'s videos are not listed');
      }
    });

    it('delete, then retrieve -> NotFoundError', async () => {
      const v = done.data || made.data;
      assert.ok(v, 'no video to delete');
      const [res, reqs] = await onWire(() => client.videos.delete(v.id));
      assert.deepEqual({ ...res }, { id: v.id, object: 'video.deleted', deleted: true });
      single(reqs, 'delete');
      await expectError(client.videos.retrieve(v.id), mod.NotFoundError, 404, { code: 'not_found' });
      await expectError(client.videos.downloadContent(v.id), mod.NotFoundError, 404, { code: 'not_found' });
      await expectError(client.videos.delete(v.id), mod.NotFoundError, 404, { code: 'not_found' });
      await expectError(client.videos.remix(v.id, { prompt: 'x' }), mod.NotFoundError, 404, { code: 'not_found' });
      if (CONTENT_DIR) {
        for (const ext of Object.values(EXT)) {
          assert.ok(!fs.existsSync(path.join(CONTENT_DIR, `${v.id}.${ext}`)), `${ext} file removed`);
        }
      }
      const ids = [];
      for await (const x of client.videos.list({ limit: 100 })) ids.push(x.id);
      assert.ok(!ids.includes(v.id), 'a deleted video is not listed');
    });

    it('bad key -> AuthenticationError', async () => {
      const bad = new OpenAI({ baseURL: BASE, apiKey: 'sk-rg-not-a-key-at-all' });
      await expectError(bad.videos.list(), mod.AuthenticationError, 401, { code: 'invalid_api_key' });
      await expectError(bad.videos.create({ prompt: 'x', ...SMALL }), mod.AuthenticationError, 401, { code: 'invalid_api_key' });
      if (made.text) {
        await expectError(bad.videos.retrieve(made.text.id), mod.AuthenticationError, 401);
        await expectError(bad.videos.downloadContent(made.text.id), mod.AuthenticationError, 401);
      }
      if (REVOKED_KEY) {
        const revoked = new OpenAI({ baseURL: BASE, apiKey: REVOKED_KEY });
        await expectError(revoked.videos.list(), mod.AuthenticationError, 401, { code: 'invalid_api_key' });
      }
    });

    it('bad field -> BadRequestError naming the param', async () => {
      const cases = [
        ['no prompt', () => client.videos.create({ ...SMALL }), 'prompt'],
        ['size 7x7', () => client.videos.create({ prompt: 'x', seconds: '1', size: '7x7' }), 'size'],
        ['seconds "0"', () => client.videos.create({ prompt: 'x', seconds: '0', size: '320x180' }), 'seconds'],
        ['seconds "abc"', () => client.videos.create({ prompt: 'x', seconds: 'abc', size: '320x180' }), 'seconds'],
        ['unknown model', () => client.videos.create({ prompt: 'x', model: 'sora-nonexistent', ...SMALL }), 'model'],
        ['input_reference {file_id}', () => client.videos.create({ prompt: 'x', ...SMALL, input_reference: { file_id: 'file_123' } }),
          ['input_reference', 'input_reference.file_id', 'input_reference[file_id]']],
        ['extra fps 0', () => client.videos.create({ prompt: 'x', ...SMALL, fps: 0 }), 'fps'],
        ['extra seed -1', () => client.videos.create({ prompt: 'x', ...SMALL, seed: -1 }), 'seed'],
        ['extra n 99', () => client.videos.create({ prompt: 'x', ...SMALL, n: 99 }), 'n'],
        ['extra duration != seconds', () => client.videos.create({ prompt: 'x', ...SMALL, duration: 3 }), ['duration', 'seconds']],
        ['an unknown extra param', () => client.videos.create({ prompt: 'x', ...SMALL, colour: 'blue' }), 'colour'],
        // OpenAI: metadata values are strings; reelgate: string, number,
        // bool or null.  6.x sends {a: {b: 1}} as JSON, 7.x as the form
        // field metadata[a][b]: both must get the same 400.
        ['metadata with a nested object', () => client.videos.create({ prompt: 'x', ...SMALL, metadata: { a: { b: 1 } } }),
          (p) => typeof p === 'string' && p.startsWith('metadata')],
        ['metadata with an array', () => client.videos.create({ prompt: 'x', ...SMALL, metadata: { tags: ['x', 'y'] } }),
          (p) => typeof p === 'string' && p.startsWith('metadata')],
        ['remix without prompt', () => client.videos.remix(made.text?.id ?? 'video_0', {}), 'prompt'],
        ['downloadContent variant gif', () => client.videos.downloadContent(made.text?.id ?? 'video_0', { variant: 'gif' }), 'variant'],
        ['list limit 101', () => client.videos.list({ limit: 101 }), 'limit'],
        ['list order sideways', () => client.videos.list({ order: 'sideways' }), 'order'],
      ];
      const problems = [];
      for (const [what, call, param] of cases) {
        try {
          const err = await expectError(call(), mod.BadRequestError, 400);
          const ok = typeof param === 'function' ? param(err.param)
            : Array.isArray(param) ? param.includes(err.param) : err.param === param;
          if (!ok) problems.push(`${what}: param ${JSON.stringify(err.param)}, want ${typeof param === 'function' ? 'metadata...' : JSON.stringify(param)} (${err.message})`);
          if (!CODES_400.includes(err.code)) problems.push(`${what}: code ${JSON.stringify(err.code)} is not one docs/api.md lists for a 400`);
        } catch (e) {
          problems.push(`${what}: ${e.message}`);
        }
      }
      assert.deepEqual(problems, []);
    });

    it('unknown path -> NotFoundError', async () => {
      await expectError(client.get('/_stainless_unknown_path'), mod.NotFoundError, 404);
      await expectError(client.post('/_stainless_unknown_path', { body: { x: 1 } }), mod.NotFoundError, 404);
      // As the SDK's own generated tests do (tests/api-resources/videos.test.ts).
      await expectError(client.videos.list({ after: 'after', limit: 0, order: 'asc' }, { path: '/_stainless_unknown_path' }),
        mod.NotFoundError, 404);
      await expectError(client.videos.downloadContent('video_123', { variant: 'video' }, { path: '/_stainless_unknown_path' }),
        mod.NotFoundError, 404);
      await expectError(client.videos.retrieve('video_123'), mod.NotFoundError, 404, { code: 'not_found' });
    });

    it('over a per-key limit -> RateLimitError', { skip: RATE_LIMITS[alias] ? false : NO_LIMIT }, async () => {
      const { key, requests, op = 'create' } = RATE_LIMITS[alias];
      const limited = new OpenAI({ baseURL: BASE, apiKey: key });
      const call = () => (op === 'list' ? limited.videos.list({ limit: 1 })
        : limited.videos.create({ prompt: `limit ${tag()}`, ...SMALL }));
      for (let i = 0; i < requests; i++) await call();
      // This one call without the SDK's retries (a request option; the
      // client keeps its defaults): they would wait out Retry-After.
      const err = await expectError(op === 'list' ? limited.videos.list({ limit: 1 }, { maxRetries: 0 })
        : limited.videos.create({ prompt: `limit ${tag()}`, ...SMALL }, { maxRetries: 0 }),
      mod.RateLimitError, 429, { code: 'rate_limit_exceeded' });
      assert.ok(err.headers.get('retry-after') || err.headers.get('retry-after-ms'),
        'a 429 tells the SDK when to retry (Retry-After)');
    });
  });
}

/** How many files under data_dir/uploads hold exactly these bytes. */
function uploadsEqualTo(bytes) {
  let n = 0;
  for (const name of fs.existsSync(UPLOADS_DIR) ? fs.readdirSync(UPLOADS_DIR) : []) {
    const p = path.join(UPLOADS_DIR, name);
    if (fs.statSync(p).isFile() && fs.readFileSync(p).equals(bytes)) n++;
  }
  return n;
}
