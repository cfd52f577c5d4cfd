// Cuts the excerpt tests/sdk/openapi/openai-videos-files.json out of OpenAI's
// published OpenAPI document (github.com/openai/openai-openapi, openapi.json):
// the responses of the Videos and Files paths the SDK scenarios call, and
// every component schema they reach through $ref.  Nothing else (no request
// bodies, no descriptions of other paths).  Run by hand when the pinned
// commit changes; never at test time:
//
//   node extract.mjs /path/to/openai-openapi/openapi.json COMMIT DATE \
//     > openai-videos-files.json
//
// COMMIT is the openai-openapi commit the openapi.json was read from (the
// excerpt records it); DATE its commit date.
import fs from 'node:fs';

const [file, commit, date] = process.argv.slice(2);
if (!file || !/^[0-9a-f]{40}$/.test(commit || '') || !date) {
  console.error('usage: node extract.mjs openapi.json COMMIT(40 hex) DATE');
  process.exit(2);
}
const spec = JSON.parse(fs.readFileSync(file, 'utf8'));

// The paths and methods of tests/sdk/videos.test.mjs.
const PATHS = {
  '/videos': ['get', 'post'],
  '/videos/{video_id}': ['get', 'delete'],
  '/videos/{video_id}/content': ['get'],
  '/videos/{video_id}/remix': ['post'],
  '/videos/edits': ['post'],
  '/videos/extensions': ['post'],
  '/videos/characters': ['post'],
  '/videos/characters/{character_id}': ['get'],
  '/files': ['get', 'post'],
  '/files/{file_id}': ['get', 'delete'],
  '/files/{file_id}/content': ['get'],
};
// OpenAI's error envelope: the spec declares it as a component and refers to
// it from no video or file path (their error answers are undeclared).
const ALSO = ['ErrorResponse'];

const schemas = spec.components.schemas;
const wanted = new Set();
function refs(node) {
  if (Array.isArray(node)) return node.forEach(refs);
  if (!node || typeof node !== 'object') return undefined;
  for (const [k, v] of Object.entries(node)) {
    if (k === '$ref' && typeof v === 'string') {
      const m = v.match(/^#\/components\/schemas\/(.+)$/);
      if (!m) throw new Error(`unexpected $ref ${v}`);
      if (!wanted.has(m[1])) {
        if (!schemas[m[1]]) throw new Error(`no schema ${m[1]}`);
        wanted.add(m[1]);
        refs(schemas[m[1]]);
      }
    } else {
      refs(v);
    }
  }
  return undefined;
}

const paths = {};
for (const [p, methods] of Object.entries(PATHS)) {
  if (!spec.paths[p]) throw new Error(`the spec has no path ${p}`);
  paths[p] = {};
  for (const m of methods) {
    const op = spec.paths[p][m];
    if (!op) throw new Error(`the spec has no ${m.toUpperCase()} ${p}`);
    const responses = {};
    for (const [status, r] of Object.entries(op.responses)) {
      responses[status] = { content: {} };
      for (const [ctype, c] of Object.entries(r.content || {})) responses[status].content[ctype] = { schema: c.schema };
    }
    paths[p][m] = { operationId: op.operationId, deprecated: op.deprecated || undefined, responses };
    refs(responses);
  }
}
for (const n of ALSO) {
  wanted.add(n);
  refs(schemas[n]);
}
const out = {
  'x-source': {
    repository: 'https://github.com/openai/openai-openapi',
    commit,
    date,
    file: 'openapi.json',
    license: 'MIT, Copyright (c) OpenAI',
    openapi: spec.openapi,
    extracted_by: 'tests/sdk/openapi/extract.mjs (responses of the listed paths, the schemas they reach)',
  },
  openapi: spec.openapi,
  paths,
  components: { schemas: Object.fromEntries([...wanted].sort().map((n) => [n, schemas[n]])) },
};
process.stdout.write(`${JSON.stringify(out, null, 1)}\n`);
