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
//   REELGATE_FILES_DIR    data_dir/files, to compare Files API uploads with
//                         the stored bytes (optional)
//   FFMPEG                the ffmpeg that makes the MP4 clip of the character,
//                         edit and extension scenarios (default: from PATH)
//
// Every JSON answer the capture proxy saw is checked against OpenAI's
// published OpenAPI schemas (openapi.mjs; the excerpt in openapi/ names its
// source commit): at once for the calls a scenario makes through onWire(),
// and all of them in the last test of the file.
//
// Operations a generation lacks (6.x has no videos.edit, extend,
// createCharacter, getCharacter) are skipped with the reason, never
// replaced by raw requests.
//
//   node --test --test-reporter=tap videos.test.mjs

import { describe, it as nodeIt } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { DEVIATIONS, SOURCE, validateAnswer } from './openapi.mjs';

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
const FILES_DIR = process.env.REELGATE_FILES_DIR || '';
const FFMPEG = process.env.FFMPEG || 'ffmpeg';
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
 * content_type, retry_count, user_agent, status, json, form, answer}; form
 * is a list of [name, value] with a file part's value {filename,
 * content_type, size}; answer is {content_type, bytes, json} (json: the
 * parsed body of a JSON answer).  Every JSON answer is checked against
 * OpenAI's OpenAPI schemas (expectSchemaValid). */
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
  expectSchemaValid(reqs);
  return [result, reqs];
}

/** Every JSON answer among reqs validates against OpenAI's OpenAPI schema
 * of its path (openapi.mjs); returns the schema names checked.  The proxy
 * records an answer once its last byte has arrived, before it forwards that
 * byte: a JSON answer the SDK has parsed is always recorded; one still
 * unrecorded is a body the caller has not read yet (a download), which the
 * last test of the file checks. */
function expectSchemaValid(reqs, { strict = false } = {}) {
  const problems = [];
  const names = [];
  for (const r of reqs || []) {
    if (!r.answer) continue;
    const res = validateAnswer({ method: r.method, path: r.path, status: r.status,
      content_type: r.answer.content_type, json: r.answer.json });
    if (res.schema) names.push(res.schema);
    for (const e of res.errors) problems.push(`${r.method} ${r.path} -> ${r.status} (${res.schema}): ${e}`);
    if (strict) for (const f of res.forgiven) problems.push(`${r.method} ${r.path} -> ${r.status}: needed deviation ${f}`);
  }
  assert.deepEqual(problems, [], `answers outside OpenAI's OpenAPI schemas (openai-openapi @ ${SOURCE.commit.slice(0, 8)})`);
  return names;
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

/** A small real MP4 (H.264, 160x96, 12 fps, `seconds` long) made with ffmpeg. */
function mp4Clip(seconds) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelgate-clip-'));
  const out = path.join(dir, 'clip.mp4');
  try {
    execFileSync(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i',
      `testsrc2=size=160x96:rate=12:duration=${seconds}`, '-c:v', 'libx264', '-pix_fmt', 'yuv420p',
      '-movflags', '+faststart', '-y', out], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60000 });
    return fs.readFileSync(out);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
const CLIP = mp4Clip(2);

/** Checks a file object (OpenAI's OpenAIFile fields); returns it. */
function expectFile(f, { bytes, filename, purpose }) {
  assert.equal(typeof f, 'object', 'a file object');
  assert.match(f.id, /^file-[0-9a-z]+$/, 'file id');
  assert.equal(f.object, 'file');
  assert.equal(f.bytes, bytes, 'bytes');
  assert.equal(f.filename, filename, 'filename');
  assert.equal(f.purpose, purpose, 'purpose');
  assert.equal(f.status, 'processed', 'status');
  assert.ok(Number.isInteger(f.created_at) && Math.abs(f.created_at - Date.now() / 1000) < 600, `created_at ${f.created_at}`);
  return f;
}

/** The methods of an SDK resource a generation lacks, among names. */
const lacking = (resource, names) => names.filter((m) => typeof resource?.[m] !== 'function');

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

    // ------------------------------------------------------ Files API

    const files = {};      // 'png' | 'mp4' -> file object as created
    const opsMissing = lacking(client.videos, ['edit', 'extend']);
    const charMissing = lacking(client.videos, ['createCharacter', 'getCharacter']);
    const lackReason = (names) => `openai ${VERSION} has no ${names.map((m) => `videos.${m}`).join(', ')}`;

    it('files.create: a PNG (purpose vision) and an MP4 (purpose user_data)', async () => {
      for (const [name, bytes, filename, type, purpose] of [['png', png, 'ref.png', 'image/png', 'vision'],
        ['mp4', CLIP, 'clip.mp4', 'video/mp4', 'user_data']]) {
        const file = await toFile(bytes, filename, { type });
        const [f, reqs] = await onWire(() => client.files.create({ file, purpose }));
        expectFile(f, { bytes: bytes.length, filename, purpose });
        const req = single(reqs, `files.create (${name})`);
        if (req) {
          assert.equal(req.path, '/v1/files');
          assert.match(req.content_type, /^multipart\/form-data; boundary=/, 'files.create is multipart');
          assert.equal(formField(req, 'purpose'), purpose);
          assert.deepEqual(formField(req, 'file'), { filename, content_type: type, size: bytes.length }, 'the file part');
        }
        if (FILES_DIR) {
          assert.ok(fs.readFileSync(path.join(FILES_DIR, f.id)).equals(bytes), `${name}: data_dir/files/${f.id} holds the bytes`);
        }
        files[name] = f;
      }
    });

    it('files.retrieve and files.content: the same object, the same bytes', async () => {
      assert.ok(files.png && files.mp4, 'the uploads failed');
      for (const [name, bytes] of [['png', png], ['mp4', CLIP]]) {
        const f = files[name];
        const [got, reqs] = await onWire(() => client.files.retrieve(f.id));
        assert.deepEqual(got, f, `${name}: retrieve answers the object create answered`);
        assert.equal(single(reqs, 'files.retrieve')?.path ?? `/v1/files/${f.id}`, `/v1/files/${f.id}`);
        const [res, creqs] = await onWire(() => client.files.content(f.id));
        assert.ok(res instanceof Response, 'files.content returns a fetch Response');
        assert.equal(res.status, 200);
        const body = Buffer.from(await res.arrayBuffer());
        assert.ok(body.equals(bytes), `${name}: files.content gives back the uploaded bytes`);
        assert.equal(Number(res.headers.get('content-length')), bytes.length, 'Content-Length');
        assert.equal(single(creqs, 'files.content')?.path ?? `/v1/files/${f.id}/content`, `/v1/files/${f.id}/content`);
      }
      const [, reqs] = await onWire(() => expectError(client.files.retrieve('file-0123456789abcdef0123456789abcdef'),
        mod.NotFoundError, 404, { code: 'not_found', param: 'file_id' }));
      single(reqs, 'retrieve of an unknown file');
      await expectError(client.files.content('file-0123456789abcdef0123456789abcdef'), mod.NotFoundError, 404,
        { code: 'not_found' });
    });

    it('files.list: auto-pagination (limit 2) in both orders, by purpose; keys are isolated', {
      skip: OTHER_KEYS[alias] ? false : 'REELGATE_OTHER_KEYS has no key for this generation',
    }, async () => {
      const other = new OpenAI({ baseURL: BASE, apiKey: OTHER_KEYS[alias] });
      const ids = [];
      for (const [bytes, filename, purpose] of [[pngBytes(8, 8, [200, 0, 0]), 'red.png', 'vision'],
        [CLIP, 'clip.mp4', 'user_data'], [pngBytes(8, 8, [0, 200, 0]), 'green.png', 'vision']]) {
        ids.push((await other.files.create({ file: await toFile(bytes, filename), purpose })).id);
      }
      for (const order of ['asc', 'desc']) {
        const want = order === 'asc' ? ids : [...ids].reverse();
        const [seen, reqs] = await onWire(async () => {
          const out = [];
          for await (const f of other.files.list({ limit: 2, order })) out.push(f.id);
          return out;
        });
        assert.deepEqual(seen, want, `for await, order ${order}`);
        if (reqs) {
          assert.deepEqual(reqs.map((r) => [r.path, r.status]), [[`/v1/files?limit=2&order=${order}`, 200],
            [`/v1/files?limit=2&order=${order}&after=${want[1]}`, 200]], 'two pages, the second after last_id');
        }
      }
      const page = await other.files.list();
      assert.deepEqual(page.data.map((f) => f.id), [...ids].reverse(), 'default: desc, all 3');
      assert.equal(page.has_more, false);
      const vision = [];
      for await (const f of other.files.list({ purpose: 'vision' })) vision.push(f.id);
      assert.deepEqual(vision, [ids[2], ids[0]], 'purpose vision: the two PNGs');
      if (files.png) {
        await expectError(other.files.retrieve(files.png.id), mod.NotFoundError, 404, { code: 'not_found' });
        const mine = [];
        for await (const f of client.files.list()) mine.push(f.id);
        assert.ok(mine.includes(files.png.id), 'my own file is listed');
        assert.ok(!ids.some((id) => mine.includes(id)), 'another key\'s files are not listed');
      }
      for (const id of ids) await other.files.delete(id);
    });

    it('videos.create with input_reference {file_id}: the uploaded PNG, then the file deleted', async () => {
      assert.ok(files.png, 'the PNG upload failed');
      const prompt = `from an uploaded file ${tag()}`;
      // One of OpenAI's sizes: its answers validate with no deviation.
      const [v, reqs] = await onWire(() => client.videos.create({ prompt, seconds: '1', size: '1280x720',
        input_reference: { file_id: files.png.id } }));
      expectVideo(v);
      assert.equal(v.prompt, prompt);
      expectSchemaValid(reqs, { strict: true });
      const req = single(reqs, 'create with a file_id');
      if (checkCreateWire(req) === 'multipart') {
        assert.equal(formField(req, 'input_reference[file_id]'), files.png.id, 'bracket form');
      } else if (req) {
        assert.deepEqual(req.json.input_reference, { file_id: files.png.id });
      }
      // The task has its own copy: deleting the file does not break it.
      const [del, dreqs] = await onWire(() => client.files.delete(files.png.id));
      assert.deepEqual({ ...del }, { id: files.png.id, object: 'file', deleted: true });
      single(dreqs, 'files.delete');
      const [d, polls] = await onWire(() => waitDone(client, v.id));
      expectSchemaValid(polls, { strict: true });
      const info = mp4Info(Buffer.from(await (await client.videos.downloadContent(d.id)).arrayBuffer()));
      assert.deepEqual([info.width, info.height], [1280, 720], 'MP4 size');
      // Not an image: the MP4's id.
      await expectError(client.videos.create({ prompt: 'x', ...SMALL, input_reference: { file_id: files.mp4.id } }),
        mod.BadRequestError, 400, { param: 'input_reference.file_id' });
      // A deleted file is gone for every route.
      const gone = files.png.id;
      await expectError(client.files.retrieve(gone), mod.NotFoundError, 404, { code: 'not_found', param: 'file_id' });
      await expectError(client.files.content(gone), mod.NotFoundError, 404, { code: 'not_found' });
      await expectError(client.files.delete(gone), mod.NotFoundError, 404, { code: 'not_found' });
      await expectError(client.videos.create({ prompt: 'x', ...SMALL, input_reference: { file_id: gone } }),
        mod.BadRequestError, 400, { param: 'input_reference.file_id' });
      if (FILES_DIR) assert.ok(!fs.existsSync(path.join(FILES_DIR, gone)), 'the bytes are removed');
    });

    // ------------------------------------------------------ characters

    it('videos.createCharacter (an MP4 made with ffmpeg, a name) and videos.getCharacter', {
      skip: charMissing.length ? lackReason(charMissing) : false,
    }, async () => {
      const name = `Mossy ${tag()}`;
      const started = Math.floor(Date.now() / 1000);
      const [c, reqs] = await onWire(async () => client.videos.createCharacter({
        video: await toFile(CLIP, 'mossy.mp4', { type: 'video/mp4' }), name }));
      assert.deepEqual(Object.keys(c).sort(), ['created_at', 'id', 'name'], 'VideoCharacterResource keys');
      assert.match(c.id, /^char_[0-9a-f]{32}$/);
      assert.equal(c.name, name);
      assert.ok(Number.isInteger(c.created_at) && c.created_at >= started - 2, `created_at ${c.created_at}`);
      const req = single(reqs, 'createCharacter');
      if (req) {
        assert.equal(req.path, '/v1/videos/characters');
        assert.match(req.content_type, /^multipart\/form-data; boundary=/, 'createCharacter is multipart');
        assert.equal(formField(req, 'name'), name);
        assert.deepEqual(formField(req, 'video'), { filename: 'mossy.mp4', content_type: 'video/mp4', size: CLIP.length });
      }
      if (UPLOADS_DIR) {
        assert.ok(fs.readFileSync(path.join(UPLOADS_DIR, `${c.id}.mp4`)).equals(CLIP), 'the clip kept under data_dir/uploads');
      }
      const [got, greqs] = await onWire(() => client.videos.getCharacter(c.id));
      assert.deepEqual(got, c, 'getCharacter answers what createCharacter did');
      assert.equal(single(greqs, 'getCharacter')?.path ?? `/v1/videos/characters/${c.id}`, `/v1/videos/characters/${c.id}`);
      await expectError(client.videos.getCharacter('char_0123456789abcdef0123456789abcdef'), mod.NotFoundError, 404,
        { code: 'not_found' });
      if (OTHER_KEYS[alias]) {
        const other = new OpenAI({ baseURL: BASE, apiKey: OTHER_KEYS[alias] });
        await expectError(other.videos.getCharacter(c.id), mod.NotFoundError, 404, { code: 'not_found' });
      }
      await expectError(client.videos.createCharacter({ video: await toFile(CLIP, 'c.mp4', { type: 'video/mp4' }), name: 'n'.repeat(81) }),
        mod.BadRequestError, 400, { param: 'name' });
      await expectError(client.videos.createCharacter({ video: await toFile(png, 'not-a-video.png', { type: 'image/png' }), name }),
        mod.BadRequestError, 400, { param: 'video' });
    });

    // ------------------------------------------------ edits and extensions

    /** Polls an edit or extension to completion and checks its MP4. */
    async function renderedAs(v, { width, height, seconds }) {
      const d = await waitDone(client, v.id);
      assert.equal(d.progress, 100);
      assert.equal(d.seconds, String(seconds), 'seconds after completion');
      const [res, reqs] = await onWire(() => client.videos.downloadContent(d.id));
      assert.equal(res.status, 200);
      assert.equal((res.headers.get('content-type') || '').split(';')[0], 'video/mp4');
      single(reqs, 'downloadContent');
      const mp4 = Buffer.from(await res.arrayBuffer());
      if (CONTENT_DIR) assert.ok(fs.readFileSync(path.join(CONTENT_DIR, `${d.id}.mp4`)).equals(mp4), 'the stored MP4');
      const info = mp4Info(mp4);
      assert.deepEqual([info.width, info.height], [width, height], 'MP4 size');
      assert.ok(Math.abs(info.seconds - seconds) < 0.25, `MP4 duration ${info.seconds}, want ${seconds}`);
      return d;
    }

    it('videos.edit of a completed video (video: {id}), polled to completion, downloadContent', {
      skip: opsMissing.includes('edit') ? lackReason(['edit']) : false,
    }, async () => {
      const src = done.text;
      assert.ok(src, 'no completed source');
      const prompt = `the same scene in autumn ${tag()}`;
      const [v, reqs] = await onWire(() => client.videos.edit({ prompt, video: { id: src.id } }));
      expectVideo(v);
      assert.equal(v.prompt, prompt);
      for (const f of ['model', 'size', 'seconds']) assert.equal(v[f], src[f], `an edit keeps the source's ${f}`);
      assert.notEqual(v.id, src.id, 'a new video');
      const req = single(reqs, 'edit');
      if (req) {
        assert.equal(req.path, '/v1/videos/edits');
        assert.match(req.content_type, /^multipart\/form-data; boundary=/, 'edit is multipart');
        assert.equal(formField(req, 'video[id]'), src.id, 'bracket form');
        assert.equal(formField(req, 'prompt'), prompt);
      }
      await renderedAs(v, { width: 320, height: 180, seconds: 1 });
      await expectError(client.videos.edit({ prompt: 'x', video: { id: 'video_0123456789abcdef0123456789abcdef' } }),
        mod.NotFoundError, 404, { code: 'not_found' });
      await expectError(client.videos.edit({ prompt: '', video: { id: src.id } }), mod.BadRequestError, 400, { param: 'prompt' });
    });

    it('videos.edit of an uploaded MP4 (toFile)', { skip: opsMissing.includes('edit') ? lackReason(['edit']) : false }, async () => {
      const prompt = `an uploaded clip, edited ${tag()}`;
      const [v, reqs] = await onWire(async () => client.videos.edit({
        prompt, video: await toFile(CLIP, 'source.mp4', { type: 'video/mp4' }) }));
      expectVideo(v);
      assert.equal(v.model, MODEL, 'an uploaded clip goes to the default model');
      assert.equal(v.size, '160x96', 'the clip\'s size');
      assert.equal(v.seconds, '2', 'the clip\'s length');
      const req = single(reqs, 'edit with a file');
      if (req) assert.deepEqual(formField(req, 'video'), { filename: 'source.mp4', content_type: 'video/mp4', size: CLIP.length });
      await renderedAs(v, { width: 160, height: 96, seconds: 2 });
    });

    it('videos.extend of a completed video (video: {id}, seconds "4"): seconds is the total', {
      skip: opsMissing.includes('extend') ? lackReason(['extend']) : false,
    }, async () => {
      const src = done.text;
      assert.ok(src, 'no completed source');
      const prompt = `and then the sun rises ${tag()}`;
      const [v, reqs] = await onWire(() => client.videos.extend({ prompt, seconds: '4', video: { id: src.id } }));
      expectVideo(v);
      assert.equal(v.seconds, '5', 'source 1 s + 4 s');
      for (const f of ['model', 'size']) assert.equal(v[f], src[f], `an extension keeps the source's ${f}`);
      const req = single(reqs, 'extend');
      if (req) {
        assert.equal(req.path, '/v1/videos/extensions');
        assert.match(req.content_type, /^multipart\/form-data; boundary=/, 'extend is multipart');
        assert.equal(formField(req, 'video[id]'), src.id, 'bracket form');
        assert.equal(formField(req, 'seconds'), '4');
      }
      await renderedAs(v, { width: 320, height: 180, seconds: 5 });
      await expectError(client.videos.extend({ prompt: 'x', seconds: '5', video: { id: src.id } }),
        mod.BadRequestError, 400, { param: 'seconds' });
      await expectError(client.videos.extend({ prompt: 'x', seconds: '4', video: { id: 'video_0123456789abcdef0123456789abcdef' } }),
        mod.NotFoundError, 404, { code: 'not_found' });
    });

    it('videos.extend of an uploaded MP4 (toFile, seconds "4")', {
      skip: opsMissing.includes('extend') ? lackReason(['extend']) : false,
    }, async () => {
      const [v, reqs] = await onWire(async () => client.videos.extend({
        prompt: `an uploaded clip, extended ${tag()}`, seconds: '4', video: await toFile(CLIP, 'source.mp4', { type: 'video/mp4' }) }));
      expectVideo(v);
      assert.equal(v.seconds, '6', 'clip 2 s + 4 s');
      assert.equal(v.size, '160x96', 'the clip\'s size');
      const req = single(reqs, 'extend with a file');
      if (req) assert.deepEqual(formField(req, 'video'), { filename: 'source.mp4', content_type: 'video/mp4', size: CLIP.length });
      await renderedAs(v, { width: 160, height: 96, seconds: 6 });
    });

    it('which of the newer video operations this generation has', (t) => {
      const all = ['edit', 'extend', 'createCharacter', 'getCharacter'];
      const missing = lacking(client.videos, all);
      t.diagnostic(`openai ${VERSION}: has ${all.filter((m) => !missing.includes(m)).map((m) => `videos.${m}`).join(', ') || 'none of them'}`
        + `${missing.length ? `; lacks ${missing.map((m) => `videos.${m}`).join(', ')}` : ''}`);
      // 7.x has them all (the scenarios above ran); 6.27 predates them.
      if (major >= 7) assert.deepEqual(missing, [], `openai ${VERSION} should have every one`);
      for (const m of ['create', 'retrieve', 'list', 'delete', 'content']) {
        assert.equal(typeof client.files[m], 'function', `files.${m}`);
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

// ------------------------------------------- OpenAI's OpenAPI schemas

describe(`OpenAPI schemas (openai/openai-openapi @ ${SOURCE.commit.slice(0, 8)}, ${SOURCE.date})`, () => {
  const video = {
    id: 'video_123', object: 'video', model: 'sora-2', status: 'completed', progress: 100, created_at: 1758941485,
    completed_at: 1758941600, expires_at: 1759027885, prompt: 'A calico cat', size: '720x1280', seconds: '4',
    remixed_from_video_id: null, error: null,
  };
  const file = { id: 'file-abc123', object: 'file', bytes: 120000, created_at: 1677610602, filename: 'a.png',
    purpose: 'vision', status: 'processed' };
  const check = (method, p, status, json) => validateAnswer({ method, path: p, status, content_type: 'application/json', json });

  it('the validator accepts the spec\'s own shapes and rejects what the schemas forbid', () => {
    const good = [
      ['GET', '/v1/videos/video_123', 200, video],
      ['POST', '/v1/videos/extensions', 200, { ...video, seconds: '12' }],
      ['GET', '/v1/videos?limit=1', 200, { object: 'list', data: [video], first_id: 'video_123', last_id: 'video_123', has_more: false }],
      // reelgate's list filters (docs/api.md) answer the same envelope
      ['GET', '/v1/videos?status=failed&model=sora-2', 200, { object: 'list', data: [], first_id: null, last_id: 'video_123', has_more: true }],
      // a member the schema does not name is allowed (none of them is closed)
      ['GET', '/v1/videos/video_123', 200, { ...video, capabilities: { max_n: 4 } }],
      ['DELETE', '/v1/videos/video_123', 200, { id: 'video_123', object: 'video.deleted', deleted: true }],
      ['POST', '/v1/videos/characters', 200, { id: 'char_123', name: 'Mossy', created_at: 1 }],
      ['GET', '/v1/videos/characters/char_123', 200, { id: null, name: null, created_at: 1 }],
      ['POST', '/v1/files', 200, file],
      ['GET', '/v1/files', 200, { object: 'list', data: [file], first_id: 'file-abc123', last_id: 'file-abc123', has_more: false }],
      ['DELETE', '/v1/files/file-abc123', 200, { id: 'file-abc123', object: 'file', deleted: true }],
      ['GET', '/v1/anything', 404, { error: { message: 'm', type: 'invalid_request_error', param: null, code: null } }],
    ];
    for (const [m, p, st, json] of good) {
      const r = check(m, p, st, json);
      assert.deepEqual([r.errors, r.forgiven], [[], []], `${m} ${p} ${st} (${r.schema})`);
    }
    const bad = [
      ['seconds as a number', 'GET', '/v1/videos/video_123', 200, { ...video, seconds: 4 }],
      ['no remixed_from_video_id', 'GET', '/v1/videos/video_123', 200, (({ remixed_from_video_id: _, ...v }) => v)(video)],
      ['an unknown status', 'POST', '/v1/videos/edits', 200, { ...video, status: 'done' }],
      ['object "videos"', 'POST', '/v1/videos', 200, { ...video, object: 'videos' }],
      ['a size that is no WxH', 'GET', '/v1/videos/video_123', 200, { ...video, size: 'big' }],
      ['error without code', 'POST', '/v1/videos/video_1/remix', 200, { ...video, status: 'failed', error: { message: 'x' } }],
      ['a character without created_at', 'GET', '/v1/videos/characters/char_1', 200, { id: 'char_1', name: 'x' }],
      ['a deleted video with deleted "yes"', 'DELETE', '/v1/videos/video_1', 200, { id: 'video_1', object: 'video.deleted', deleted: 'yes' }],
      ['a file with expires_at null', 'GET', '/v1/files/file-abc123', 200, { ...file, expires_at: null }],
      ['a file with purpose "pictures"', 'POST', '/v1/files', 200, { ...file, purpose: 'pictures' }],
      ['a file list with first_id null', 'GET', '/v1/files', 200, { object: 'list', data: [], first_id: null, last_id: null, has_more: false }],
      ['a deleted file as "file.deleted"', 'DELETE', '/v1/files/file-abc123', 200, { id: 'file-abc123', object: 'file.deleted', deleted: true }],
      ['an error without param', 'GET', '/v1/videos', 400, { error: { message: 'm', type: 't', code: null } }],
      ['an answer with no schema', 'GET', '/v1/models', 200, { object: 'list', data: [] }],
      ['JSON for video bytes', 'GET', '/v1/videos/video_1/content', 200, { url: 'x' }],
    ];
    const passed = bad.filter(([, m, p, st, json]) => check(m, p, st, json).errors.length === 0).map(([what]) => what);
    assert.deepEqual(passed, [], 'answers the schemas forbid were accepted');
    // The one deviation, and only for what it allows.
    assert.deepEqual(check('GET', '/v1/videos/video_1', 200, { ...video, size: '320x180' }).forgiven, ['size-any-WxH']);
  });

  it('every JSON answer of this run validates against its schema', {
    skip: CAPTURE ? false : 'no capture proxy (REELGATE_CAPTURE_URL): the answers were not recorded',
  }, async (t) => {
    const { requests } = await captured(0);
    const bySchema = {};
    const forgiven = {};
    const problems = [];
    let skipped = 0;
    let unread = 0;
    for (const r of requests) {
      if (!r.answer) {
        // Only a body nobody read to its end (the SDK parses every JSON
        // answer it returns): a download left unread.
        unread++;
        continue;
      }
      const res = validateAnswer({ method: r.method, path: r.path, status: r.status,
        content_type: r.answer.content_type, json: r.answer.json });
      if (!res.schema && !res.errors.length) {
        skipped++;
        continue;
      }
      if (res.schema) bySchema[res.schema] = (bySchema[res.schema] || 0) + 1;
      for (const f of res.forgiven) forgiven[f] = (forgiven[f] || 0) + 1;
      for (const e of res.errors) problems.push(`#${r.seq} ${r.method} ${r.path} -> ${r.status} (${res.schema}): ${e}`);
    }
    t.diagnostic(`${requests.length} answers: ${requests.length - skipped} JSON, checked per schema ${JSON.stringify(bySchema)}; ${skipped} not JSON (media, file bytes); ${unread} unread to the end`);
    for (const [id, n] of Object.entries(forgiven)) {
      t.diagnostic(`deviation ${id} forgiven ${n} times: ${DEVIATIONS.find((d) => d.id === id).why}`);
    }
    assert.deepEqual(problems.slice(0, 40), [], `${problems.length} answers outside the schemas`);
    // Each schema of the brief was exercised (the test is not vacuous).
    const want = ['VideoResource', 'VideoListResource', 'DeletedVideoResource', 'OpenAIFile', 'ListFilesResponse',
      'DeleteFileResponse', 'ErrorResponse'];
    if (SDKS.some((a) => a.startsWith('openai7'))) want.push('VideoCharacterResource');
    assert.deepEqual(want.filter((n) => !bySchema[n]), [], 'schemas no answer was checked against');
  });
});

/** How many files under data_dir/uploads hold exactly these bytes. */
function uploadsEqualTo(bytes) {
  let n = 0;
  for (const name of fs.existsSync(UPLOADS_DIR) ? fs.readdirSync(UPLOADS_DIR) : []) {
    const p = path.join(UPLOADS_DIR, name);
    if (fs.statSync(p).isFile() && fs.readFileSync(p).equals(bytes)) n++;
  }
  return n;
}
