#!/usr/bin/env node
// sdk-download.mjs: the official openai SDKs (tests/sdk/node_modules, the
// npm aliases openai7 and openai6) download a video's variants from a
// reelgate whose content.delivery is "redirect": the SDK's fetch follows
// the 302 to the presigned GET of the bucket.  Run by
// tests/integration/test_s3.py:
//
//   node sdk-download.mjs BASE_URL API_KEY VIDEO_ID OUT_DIR VARIANT...
//
// For each alias present and each variant, writes the bytes to
// OUT_DIR/ALIAS-VARIANT and prints a JSON line {alias, version, variant,
// status, redirected, url (the final URL, query dropped), bytes, file};
// an alias that is not installed prints {alias, missing: true}.  A failed
// download prints {alias, variant, error} and the exit status is 1.

import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const sdkDir = path.join(here, '..', 'sdk');
const require = createRequire(path.join(sdkDir, 'package.json'));

const [base, key, id, outDir, ...variants] = process.argv.slice(2);
if (!base || !key || !id || !outDir || variants.length === 0) {
  process.stderr.write('usage: sdk-download.mjs BASE_URL API_KEY VIDEO_ID OUT_DIR VARIANT...\n');
  process.exit(2);
}

let failed = false;
for (const alias of ['openai7', 'openai6']) {
  let mod;
  try {
    mod = require(alias);
  } catch {
    console.log(JSON.stringify({ alias, missing: true }));
    continue;
  }
  const OpenAI = mod.default ?? mod.OpenAI;
  const version = JSON.parse(fs.readFileSync(path.join(sdkDir, 'node_modules', alias, 'package.json'), 'utf8')).version;
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0 });
  for (const variant of variants) {
    try {
      const res = await client.videos.downloadContent(id, { variant });
      const body = Buffer.from(await res.arrayBuffer());
      const file = path.join(outDir, `${alias}-${variant}`);
      fs.writeFileSync(file, body);
      const u = new URL(res.url);
      console.log(JSON.stringify({
        alias, version, variant, status: res.status, redirected: res.redirected,
        url: `${u.origin}${u.pathname}`, bytes: body.length, file,
      }));
    } catch (e) {
      failed = true;
      console.log(JSON.stringify({ alias, version, variant, error: String(e.stack || e) }));
    }
  }
}
process.exit(failed ? 1 : 0);
