// Every JSON answer of reelgate checked against OpenAI's published OpenAPI
// schemas: the excerpt openapi/openai-videos-files.json (cut from
// openai/openai-openapi by openapi/extract.mjs; its "x-source" names the
// commit), compiled with Ajv's JSON Schema 2020-12 dialect, which is
// OpenAPI 3.1's.  Nothing is downloaded at test time.
//
// Which schema an answer must satisfy:
//   2xx with a JSON body   the schema the spec declares for that path, method
//                          and status (application/json): VideoResource,
//                          VideoListResource, DeletedVideoResource,
//                          VideoCharacterResource, OpenAIFile,
//                          ListFilesResponse, DeleteFileResponse
//   4xx/5xx                ErrorResponse, OpenAI's envelope (the spec
//                          declares it once and refers to it from none of
//                          these paths)
//   a body that is not JSON (MP4, WebP, JPEG, a file's bytes) is not a JSON
//   answer and is not checked here.
//
// DEVIATIONS lists where reelgate answers outside the published schema on
// purpose, each with the reason; an error of the schema is forgiven only when
// it is exactly one of these (keyword, schema location and value), and every
// forgiven error is counted so the test can say how often it happened.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020Module from 'ajv/dist/2020.js';

const Ajv2020 = Ajv2020Module.default || Ajv2020Module;
const HERE = path.dirname(fileURLToPath(import.meta.url));
export const SPEC = JSON.parse(fs.readFileSync(path.join(HERE, 'openapi', 'openai-videos-files.json'), 'utf8'));
export const SOURCE = SPEC['x-source'];
const ID = 'https://reelgate.invalid/openai-openapi.json';

export const DEVIATIONS = [
  {
    id: 'size-any-WxH',
    schema: 'VideoSize',
    keyword: 'enum',
    allows: (v) => typeof v === 'string' && /^[1-9][0-9]*x[1-9][0-9]*$/.test(v),
    why: 'reelgate renders any WxH its model allows (docs/api.md: size "WxH"); OpenAI\'s VideoSize enum has four sizes',
  },
];

// The spec's own formats: unixtime (an integer of seconds), binary (bodies,
// never JSON here).
const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addFormat('unixtime', { type: 'number', validate: (n) => Number.isInteger(n) && n >= 0 });
ajv.addFormat('binary', true);
ajv.addSchema({ ...SPEC, $id: ID });

const compiled = new Map();
function validator(ref) {
  if (!compiled.has(ref)) {
    const v = ajv.getSchema(`${ID}${ref}`);
    if (!v) throw new Error(`no schema ${ref} in the OpenAPI excerpt`);
    compiled.set(ref, v);
  }
  return compiled.get(ref);
}

/** The name of a component schema by its ref, or the ref. */
const nameOf = (ref) => ref.replace(/^#\/components\/schemas\//, '');

/** The spec's path template and operation for a method and a request path
 * (/v1/... with or without a query); literal segments win over {params}. */
export function operationFor(method, reqPath) {
  const p = reqPath.split('?')[0].replace(/^\/v1(?=\/)/, '');
  const segs = p.split('/');
  let best = null;
  for (const [tmpl, ops] of Object.entries(SPEC.paths)) {
    const t = tmpl.split('/');
    if (t.length !== segs.length) continue;
    let literal = 0;
    const ok = t.every((s, i) => {
      if (/^\{.+\}$/.test(s)) return segs[i] !== '';
      if (s === segs[i]) literal++;
      return s === segs[i];
    });
    const op = ops[method.toLowerCase()];
    if (ok && op && (!best || literal > best.literal)) best = { template: tmpl, op, literal };
  }
  return best;
}

/** The JSON pointer's value in doc. */
function at(doc, pointer) {
  return pointer.split('/').slice(1).reduce((o, k) => (o == null ? o : o[k.replace(/~1/g, '/').replace(/~0/g, '~')]), doc);
}

/** The schema an answer must satisfy: {ref, name} or {skip: why} or
 * {missing: why} (a JSON answer the spec has no schema for). */
export function schemaFor({ method, path: reqPath, status, content_type: ctype }) {
  const json = /^application\/json\b/.test(ctype || '');
  if (!json) return { skip: `not JSON (${ctype || 'no Content-Type'})` };
  if (status >= 400) return { ref: '#/components/schemas/ErrorResponse', name: 'ErrorResponse' };
  const found = operationFor(method, reqPath);
  if (!found) return { missing: `the excerpt has no ${method} ${reqPath.split('?')[0]}` };
  const r = found.op.responses[String(status)];
  const schema = r?.content?.['application/json']?.schema;
  if (!schema) return { missing: `the spec declares no JSON ${status} answer for ${method} ${found.template}` };
  if (schema.$ref) return { ref: schema.$ref, name: nameOf(schema.$ref) };
  const ptr = `#/paths/${found.template.replace(/~/g, '~0').replace(/\//g, '~1')}/${method.toLowerCase()}`
    + `/responses/${status}/content/application~1json/schema`;
  return { ref: ptr, name: `${method} ${found.template} ${status} (inline)` };
}

/** Validates one JSON answer.  Returns {schema, errors: [text], forgiven:
 * [deviation id]} (errors empty when it validates). */
export function validateAnswer(answer) {
  const s = schemaFor(answer);
  if (s.skip) return { schema: null, skipped: s.skip, errors: [], forgiven: [] };
  if (s.missing) return { schema: null, errors: [s.missing], forgiven: [] };
  const validate = validator(s.ref);
  if (validate(answer.json)) return { schema: s.name, errors: [], forgiven: [] };
  const errors = [];
  const forgiven = [];
  for (const e of validate.errors) {
    const value = at(answer.json, e.instancePath);
    const dev = DEVIATIONS.find((d) => e.keyword === d.keyword
      && e.schemaPath === `#/components/schemas/${d.schema}/${d.keyword}` && d.allows(value));
    if (dev) forgiven.push(dev.id);
    else errors.push(`${e.instancePath || '(root)'} ${e.message} [${e.schemaPath}]${'allowedValues' in (e.params || {}) ? ` ${JSON.stringify(e.params.allowedValues)}` : ''}, got ${JSON.stringify(value)?.slice(0, 120)}`);
  }
  return { schema: s.name, errors, forgiven };
}
