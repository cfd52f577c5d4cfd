#!/usr/bin/env node
// A loopback S3 server for the tests that checks AWS Signature V4 as S3 does.
//
// s3rver (which does not verify v4 signatures) stores the buckets and
// objects; in front of it, this proxy recomputes every request's signature
// with the AWS SDK's own signer (@smithy/signature-v4, with node's crypto
// through @smithy/hash-node) and refuses a mismatch with S3's own XML error
// and status before anything reaches s3rver.  See README in this directory.
//
//   node sigv4-proxy.mjs --port P --control-port C --dir DIR \
//        --access-key AK --secret-key SK --region us-east-1 [--vhost-domain s3.local]
//
// Prints "ready P C" on stdout once both ports listen; a line of JSON per
// request on stderr.  Port 0 picks a free port.

import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import { createRequire } from "node:module";

import { Hash } from "@smithy/hash-node";
import { SignatureV4 } from "@smithy/signature-v4";

const require = createRequire(import.meta.url);
const S3rver = require("s3rver");

// ------------------------------------------------------------ arguments

function parseArgs(argv) {
  const opts = {
    port: 0,
    controlPort: 0,
    dir: null,
    accessKey: "AKIDREELGATETEST",
    secretKey: "reelgate-test-secret",
    region: "us-east-1",
    vhostDomain: "s3.local",
  };
  const names = {
    "--port": "port",
    "--control-port": "controlPort",
    "--dir": "dir",
    "--access-key": "accessKey",
    "--secret-key": "secretKey",
    "--region": "region",
    "--vhost-domain": "vhostDomain",
  };
  for (let i = 2; i < argv.length; i += 2) {
    const key = names[argv[i]];
    if (!key || i + 1 >= argv.length) {
      process.stderr.write(`usage: sigv4-proxy.mjs ${Object.keys(names).join(" X ")} X\n`);
      process.exit(2);
    }
    opts[key] = argv[i + 1];
  }
  opts.port = Number(opts.port);
  opts.controlPort = Number(opts.controlPort);
  if (!opts.dir) {
    process.stderr.write("sigv4-proxy.mjs: --dir is required\n");
    process.exit(2);
  }
  return opts;
}

const OPTS = parseArgs(process.argv);
const SERVICE = "s3";
const MAX_SKEW_MS = 15 * 60 * 1000; // S3: RequestTimeTooSkewed past 15 minutes
const MAX_PRESIGN_EXPIRES = 604800; // S3: X-Amz-Expires at most a week
const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// ------------------------------------------------------------ S3 errors

class S3Error extends Error {
  constructor(status, code, message, extra = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra;
  }
}

function xmlEscape(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c]);
}

function errorXml(err, requestId) {
  let x = '<?xml version="1.0" encoding="UTF-8"?>\n<Error>';
  x += `<Code>${xmlEscape(err.code)}</Code><Message>${xmlEscape(err.message)}</Message>`;
  for (const [k, v] of Object.entries(err.extra)) {
    if (v !== undefined) x += `<${k}>${xmlEscape(v)}</${k}>`;
  }
  x += `<RequestId>${requestId}</RequestId><HostId>${requestId}</HostId></Error>`;
  return x;
}

const accessDenied = (message, extra) => new S3Error(403, "AccessDenied", message, extra);
const malformedHeader = (message, extra) => new S3Error(400, "AuthorizationHeaderMalformed", message, extra);
const malformedQuery = (message, extra) => new S3Error(400, "AuthorizationQueryParametersError", message, extra);

// ------------------------------------------------------------ canonical parts
//
// What goes into the SDK's signer is the request as S3 sees it: the path
// URI-encoded as S3 documents ("URI-encode each byte except A-Za-z0-9-._~,
// the slash left as is in the object key name", no normalisation of `//`
// or `.` segments: the signer's uriEscapePath is false for S3, as the S3
// client sets it), the query decoded (the signer encodes, sorts, and drops
// X-Amz-Signature), and only the headers named in SignedHeaders (the signer
// trims them and folds inner runs of spaces).

function percentDecode(s) {
  const bytes = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "%" && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c === "%") {
      throw new S3Error(400, "InvalidURI", "Couldn't parse the specified URI.");
    } else {
      for (const b of Buffer.from(c, "utf8")) bytes.push(b);
    }
  }
  return Buffer.from(bytes);
}

function uriEncodeBytes(buf, keepSlash) {
  let out = "";
  for (const b of buf) {
    const ch = String.fromCharCode(b);
    if (/[A-Za-z0-9\-._~]/.test(ch) || (keepSlash && ch === "/")) out += ch;
    else out += "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

function canonicalPath(rawPath) {
  return uriEncodeBytes(percentDecode(rawPath), true);
}

function parseQuery(rawQuery) {
  const query = {};
  if (!rawQuery) return query;
  for (const part of rawQuery.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const k = percentDecode(eq < 0 ? part : part.slice(0, eq)).toString("utf8");
    const v = eq < 0 ? "" : percentDecode(part.slice(eq + 1)).toString("utf8");
    if (k in query) query[k] = [].concat(query[k], v);
    else query[k] = v;
  }
  return query;
}

// Header values as received; a header sent several times is one value
// joined with commas (as the SigV4 spec says).
function headerBag(rawHeaders) {
  const h = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    h[name] = name in h ? `${h[name]},${rawHeaders[i + 1]}` : rawHeaders[i + 1];
  }
  return h;
}

function parseAmzDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || "");
  if (!m) return null;
  const t = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  return Number.isNaN(t) ? null : new Date(t);
}

// The SDK's signer, keeping the canonical request and string to sign it
// built (S3 returns them with SignatureDoesNotMatch).
class RecordingSigner extends SignatureV4 {
  createCanonicalRequest(...args) {
    this.lastCanonicalRequest = super.createCanonicalRequest(...args);
    return this.lastCanonicalRequest;
  }
  async createStringToSign(...args) {
    this.lastStringToSign = await super.createStringToSign(...args);
    return this.lastStringToSign;
  }
}

function newSigner(secretKey) {
  return new RecordingSigner({
    service: SERVICE,
    region: OPTS.region,
    credentials: { accessKeyId: OPTS.accessKey, secretAccessKey: secretKey },
    sha256: Hash.bind(null, "sha256"),
    uriEscapePath: false, // S3: the path is encoded once, never normalised
    applyChecksum: false, // the payload hash header is the client's, as sent
  });
}

function now() {
  return new Date(Date.now() + scenario.clock_offset_s * 1000);
}

// Checks credential scope "AK/DATE/REGION/SERVICE/aws4_request" as S3 does.
function checkCredential(cred, amzDate, bad) {
  const parts = (cred || "").split("/");
  if (parts.length !== 5) throw bad(`the Credential '${cred}' is malformed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`);
  const [ak, date, region, service, term] = parts;
  if (ak !== OPTS.accessKey) {
    throw new S3Error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", { AWSAccessKeyId: ak });
  }
  if (date !== amzDate.slice(0, 8)) throw bad(`Invalid credential date "${date}". This date is not the same as X-Amz-Date: "${amzDate.slice(0, 8)}".`);
  if (region !== OPTS.region) throw bad(`The authorization header is malformed; the region '${region}' is wrong; expecting '${OPTS.region}'`, { Region: OPTS.region });
  if (service !== SERVICE) throw bad(`The authorization header is malformed; incorrect service "${service}". This endpoint belongs to "${SERVICE}".`);
  if (term !== "aws4_request") throw bad(`The authorization header is malformed; incorrect terminal "${term}". This endpoint uses "aws4_request".`);
  return ak;
}

function signatureMismatch(signer, provided) {
  return new S3Error(403, "SignatureDoesNotMatch",
    "The request signature we calculated does not match the signature you provided. Check your key and signing method.", {
      AWSAccessKeyId: OPTS.accessKey,
      StringToSign: signer.lastStringToSign,
      SignatureProvided: provided,
      CanonicalRequest: signer.lastCanonicalRequest,
    });
}

// Every x-amz-* header sent must be signed (x-amz-content-sha256 need not
// be: its value is the canonical request's last line).
function checkHeadersSigned(headers, signed) {
  const unsigned = Object.keys(headers).filter((h) => h.startsWith("x-amz-") && h !== "x-amz-content-sha256" && !signed.has(h));
  if (unsigned.length) {
    throw accessDenied("There were headers present in the request which were not signed", { HeadersNotSigned: unsigned.join(", ") });
  }
}

function signedSubset(headers, signed) {
  const out = {};
  for (const h of signed) if (h in headers) out[h] = headers[h];
  return out;
}

// Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...
async function verifyHeaderAuth(req, url, headers, body) {
  const auth = headers.authorization;
  const m = /^AWS4-HMAC-SHA256 (.*)$/.exec(auth);
  if (!m) {
    if (/^AWS /.test(auth)) throw new S3Error(400, "InvalidRequest", "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.");
    throw new S3Error(400, "InvalidArgument", "Unsupported Authorization Type", { ArgumentName: "Authorization", ArgumentValue: auth });
  }
  const fields = {};
  for (const part of m[1].split(",")) {
    const eq = part.indexOf("=");
    if (eq > 0) fields[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  for (const f of ["Credential", "SignedHeaders", "Signature"]) {
    if (!fields[f]) throw malformedHeader(`The authorization header is malformed; missing ${f}.`);
  }
  const amzDate = headers["x-amz-date"];
  const signingDate = parseAmzDate(amzDate);
  if (!signingDate) {
    throw accessDenied("AWS authentication requires a valid Date or x-amz-date header");
  }
  const ak = checkCredential(fields.Credential, amzDate, malformedHeader);
  const skew = Math.abs(now().getTime() - signingDate.getTime());
  if (skew > MAX_SKEW_MS) {
    throw new S3Error(403, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large.", {
      RequestTime: amzDate,
      ServerTime: now().toISOString(),
      MaxAllowedSkewMilliseconds: MAX_SKEW_MS,
    });
  }
  const signed = new Set(fields.SignedHeaders.split(";"));
  if (!signed.has("host")) throw malformedHeader("The authorization header is malformed; SignedHeaders must include host.");
  if (!signed.has("x-amz-date")) throw accessDenied("x-amz-date must be signed (it is in SignedHeaders).");
  checkHeadersSigned(headers, signed);

  const payload = headers["x-amz-content-sha256"];
  if (payload === undefined) {
    throw new S3Error(400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256");
  }
  if (/^[0-9a-f]{64}$/.test(payload)) {
    const real = createHash("sha256").update(body).digest("hex");
    if (real !== payload) {
      throw new S3Error(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.", {
        ClientComputedContentSHA256: payload,
        S3ComputedContentSHA256: real,
      });
    }
  } else if (payload !== "UNSIGNED-PAYLOAD") {
    if (payload.startsWith("STREAMING-")) {
      throw new S3Error(501, "NotImplemented", `This test server does not decode aws-chunked bodies (x-amz-content-sha256: ${payload}); send the body's SHA-256 or UNSIGNED-PAYLOAD.`);
    }
    throw new S3Error(400, "InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-..., or a valid sha256 value.", {
      ArgumentName: "x-amz-content-sha256",
      ArgumentValue: payload,
    });
  }

  const signer = newSigner(OPTS.secretKey);
  const request = {
    method: req.method,
    protocol: "http:",
    hostname: (headers.host || "").replace(/:\d+$/, ""),
    path: canonicalPath(url.pathname),
    query: parseQuery(url.search.slice(1)),
    headers: { ...signedSubset(headers, signed), "x-amz-content-sha256": payload },
    body: undefined,
  };
  // x-amz-content-sha256 is in the request for the payload hash; it is a
  // canonical header only when the client signed it.
  const unsignable = signed.has("x-amz-content-sha256") ? undefined : new Set(["x-amz-content-sha256"]);
  const out = await signer.sign(request, { signingDate, signableHeaders: signed, unsignableHeaders: unsignable });
  const sig = / Signature=([0-9a-f]+)$/.exec(out.headers.authorization)[1];
  const list = /SignedHeaders=([^,]+),/.exec(out.headers.authorization)[1];
  if (sig !== fields.Signature || list !== fields.SignedHeaders) throw signatureMismatch(signer, fields.Signature);
  return { auth: "header", access_key: ak };
}

const PRESIGN_PARAMS = ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"];

// A presigned URL: X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders, -Signature.
async function verifyPresigned(req, url, headers) {
  const query = parseQuery(url.search.slice(1));
  if (query["X-Amz-Algorithm"] !== "AWS4-HMAC-SHA256") {
    throw malformedQuery("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"");
  }
  for (const p of PRESIGN_PARAMS) {
    if (typeof query[p] !== "string") {
      throw malformedQuery(`Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters; ${p} is missing.`);
    }
  }
  if ("X-Amz-Security-Token" in query) {
    throw new S3Error(400, "InvalidToken", "The provided token is malformed or otherwise invalid (this test server has no session tokens).");
  }
  const amzDate = query["X-Amz-Date"];
  const signingDate = parseAmzDate(amzDate);
  if (!signingDate) throw malformedQuery(`X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`);
  const expires = query["X-Amz-Expires"];
  if (!/^\d+$/.test(expires)) throw malformedQuery("X-Amz-Expires should be a number");
  if (Number(expires) > MAX_PRESIGN_EXPIRES) throw malformedQuery(`X-Amz-Expires must be less than a week (in seconds) that is ${MAX_PRESIGN_EXPIRES}`);
  const ak = checkCredential(query["X-Amz-Credential"], amzDate, malformedQuery);
  // An expired URL is refused before its signature is looked at.
  const t = now().getTime();
  if (t > signingDate.getTime() + Number(expires) * 1000) {
    throw accessDenied("Request has expired", {
      "X-Amz-Expires": expires,
      Expires: new Date(signingDate.getTime() + Number(expires) * 1000).toISOString(),
      ServerTime: now().toISOString(),
    });
  }
  if (signingDate.getTime() - t > MAX_SKEW_MS) {
    throw accessDenied("Request is not valid yet", { "X-Amz-Date": amzDate, ServerTime: now().toISOString() });
  }
  const signed = new Set(query["X-Amz-SignedHeaders"].split(";"));
  if (!signed.has("host")) throw malformedQuery("X-Amz-SignedHeaders must include host.");
  checkHeadersSigned(headers, signed);

  const signer = newSigner(OPTS.secretKey);
  const rest = { ...query };
  for (const p of PRESIGN_PARAMS) delete rest[p];
  const request = {
    method: req.method,
    protocol: "http:",
    hostname: (headers.host || "").replace(/:\d+$/, ""),
    path: canonicalPath(url.pathname),
    query: rest,
    // S3's presigned URLs sign UNSIGNED-PAYLOAD, as the SDK's S3 presigner does.
    headers: { ...signedSubset(headers, signed), "x-amz-content-sha256": "UNSIGNED-PAYLOAD" },
    body: undefined,
  };
  const keep = new Set([...signed, "x-amz-content-sha256"]);
  const unsignable = signed.has("x-amz-content-sha256") ? undefined : new Set(["x-amz-content-sha256"]);
  const out = await signer.presign(request, {
    signingDate,
    expiresIn: Number(expires),
    signableHeaders: signed,
    unsignableHeaders: unsignable,
    unhoistableHeaders: keep, // the signed headers came as headers: keep them there
  });
  if (out.query["X-Amz-Signature"] !== query["X-Amz-Signature"] || out.query["X-Amz-SignedHeaders"] !== query["X-Amz-SignedHeaders"]) {
    throw signatureMismatch(signer, query["X-Amz-Signature"]);
  }
  return { auth: "presigned", access_key: ak };
}

async function authenticate(req, url, headers, body) {
  const hasHeader = "authorization" in headers;
  const hasQuery = /(^|&)X-Amz-(Algorithm|Signature|Credential)=/i.test(url.search.slice(1));
  if (hasHeader && hasQuery) {
    throw new S3Error(400, "InvalidArgument", "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified");
  }
  if (hasHeader) return verifyHeaderAuth(req, url, headers, body);
  if (hasQuery) return verifyPresigned(req, url, headers);
  throw accessDenied("Access Denied (the request carries no signature)");
}

// ------------------------------------------------------------ scenarios

const DEFAULT_SCENARIO = {
  down: false, // true / "refuse": S3 port closed; "reset": connections accepted and closed at once
  slow_down: 0, // the next N S3 requests: 503 SlowDown
  internal_error: 0, // the next N S3 requests: 500 InternalError
  fail_parts: [], // part numbers whose UploadPart answers 500 InternalError
  fail_parts_times: 1, // how many times each of fail_parts fails (-1: always)
  fail: [], // [{method, path_re, query_re, status, code, count}]: generic failures
  drop_after_bytes: null, // cut the connection after N bytes of a request's body
  drop_count: 1, // how many requests are cut so (-1: every one)
  delay_ms: 0, // wait before answering each S3 request
  hold_parts: [], // part numbers whose UploadPart is stored, its answer never sent (held until the client goes)
  delay: [], // [{method, path_re, query_re, ms}]: the matching requests wait ms once received, before they take effect
  hold: [], // [{method, path_re, query_re}]: multipart calls (POST ?uploads, UploadPart) that take effect, their answer never sent
  clock_offset_s: 0, // the server's clock runs this far ahead (negative: behind)
};

let scenario = structuredClone(DEFAULT_SCENARIO);
let partFailures = new Map(); // part number -> failures done
const requestLog = [];
const waiting = new Set(); // requests received, held by scenario.delay

function setScenario(body) {
  for (const k of Object.keys(body)) {
    if (!(k in DEFAULT_SCENARIO)) throw new Error(`unknown scenario key ${k}; known: ${Object.keys(DEFAULT_SCENARIO).join(", ")}`);
  }
  for (const r of body.delay || []) {
    if (typeof r !== "object" || !Number.isInteger(r.ms)) throw new Error("each of delay needs ms (and method, path_re, query_re)");
  }
  for (const r of body.fail || []) {
    if (typeof r !== "object" || !Number.isInteger(r.status)) throw new Error("each of fail needs a status (and method, path_re, query_re, code, count)");
  }
  Object.assign(scenario, body);
  if ("fail_parts" in body) partFailures = new Map();
  if ("fail" in body) scenario.fail = body.fail.map((r) => ({ count: 1, code: "InternalError", ...r }));
}

// Whether the request matches a rule {method, path_re, query_re}.
function matches(r, method, url) {
  return (!r.method || r.method === method) && (!r.path_re || new RegExp(r.path_re).test(url.pathname)) &&
    (!r.query_re || new RegExp(r.query_re).test(url.search.slice(1)));
}

function takeCount(obj, key) {
  if (obj[key] === 0) return false;
  if (obj[key] > 0) obj[key] -= 1;
  return true;
}

// An injected failure for this request, or null.
function injectedFailure(method, url) {
  if (takeCount(scenario, "slow_down")) return new S3Error(503, "SlowDown", "Please reduce your request rate.");
  if (takeCount(scenario, "internal_error")) return new S3Error(500, "InternalError", "We encountered an internal error. Please try again.");
  const q = parseQuery(url.search.slice(1));
  if (method === "PUT" && "uploadId" in q && "partNumber" in q) {
    const n = Number(q.partNumber);
    if (scenario.fail_parts.includes(n)) {
      const done = partFailures.get(n) || 0;
      if (scenario.fail_parts_times < 0 || done < scenario.fail_parts_times) {
        partFailures.set(n, done + 1);
        return new S3Error(500, "InternalError", "We encountered an internal error. Please try again.");
      }
    }
  }
  for (const r of scenario.fail) {
    if (r.count === 0) continue;
    if (r.method && r.method !== method) continue;
    if (r.path_re && !new RegExp(r.path_re).test(url.pathname)) continue;
    if (r.query_re && !new RegExp(r.query_re).test(url.search.slice(1))) continue;
    if (r.count > 0) r.count -= 1;
    return new S3Error(r.status, r.code, r.message || `Injected by the test scenario (${r.code}).`);
  }
  return null;
}

// ------------------------------------------------------------ serving

let s3rver;
let innerPort;
let mainServer;
let controlServer;
let nextId = 1;

function logRequest(entry) {
  requestLog.push(entry);
  process.stderr.write(JSON.stringify(entry) + "\n");
}

function sendJson(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

function sendError(req, res, err, requestId) {
  const body = errorXml(err, requestId);
  res.writeHead(err.status, {
    "Content-Type": "application/xml",
    "Content-Length": Buffer.byteLength(body),
    "x-amz-request-id": requestId,
  });
  res.end(req.method === "HEAD" ? undefined : body);
}

async function readJson(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const text = Buffer.concat(chunks).toString("utf8");
  return text ? JSON.parse(text) : {};
}

async function control(req, res, url) {
  try {
    if (req.method === "POST" && url.pathname === "/_fake/scenario") {
      setScenario(await readJson(req));
      await applyDown();
      return sendJson(res, 200, scenario);
    }
    if (req.method === "GET" && url.pathname === "/_fake/scenario") return sendJson(res, 200, scenario);
    if (req.method === "POST" && url.pathname === "/_fake/reset") {
      scenario = structuredClone(DEFAULT_SCENARIO);
      partFailures = new Map();
      await applyDown();
      return sendJson(res, 200, scenario);
    }
    if (req.method === "GET" && url.pathname === "/_fake/requests") return sendJson(res, 200, { requests: requestLog });
    if (req.method === "GET" && url.pathname === "/_fake/waiting") return sendJson(res, 200, { waiting: [...waiting] });
    if (req.method === "GET" && url.pathname === "/_fake/uploads") {
      const open = [...uploads.entries()].map(([id, u]) => ({ upload_id: id, bucket: u.bucket, key: u.key, initiated: u.initiated.toISOString(), parts: [...u.parts.keys()].sort((a, b) => a - b) }));
      return sendJson(res, 200, { uploads: open });
    }
    if (req.method === "DELETE" && url.pathname === "/_fake/requests") {
      requestLog.length = 0;
      return sendJson(res, 200, { requests: [] });
    }
    return sendJson(res, 404, { error: `no control endpoint ${req.method} ${url.pathname}` });
  } catch (e) {
    return sendJson(res, 400, { error: String(e.message || e) });
  }
}

// Reads the body, or cuts the connection after drop_after_bytes bytes.
function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let n = 0;
    let limit = null;
    if (scenario.drop_after_bytes !== null && (req.headers["content-length"] > 0 || req.headers["transfer-encoding"]) && scenario.drop_count !== 0) {
      limit = scenario.drop_after_bytes;
      if (scenario.drop_count > 0) scenario.drop_count -= 1;
    }
    req.on("data", (c) => {
      if (limit !== null && n + c.length > limit) {
        n = limit;
        req.socket.destroy();
        const e = new Error("dropped");
        e.dropped = n;
        reject(e);
        return;
      }
      n += c.length;
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
    req.on("aborted", () => reject(Object.assign(new Error("client aborted"), { aborted: true })));
  });
}

// res null: the answer is read and not sent (the client's request is left hanging).
function forward(req, res, url, headers, body, vhostBucket, onAnswer = null) {
  return new Promise((resolve) => {
    const q = url.search
      .slice(1)
      .split("&")
      .filter((p) => p && !/^x-amz-/i.test(p))
      .join("&");
    const path = (vhostBucket ? `/${vhostBucket}${url.pathname}` : url.pathname) + (q ? `?${q}` : "");
    const out = {};
    for (const [k, v] of Object.entries(headers)) {
      if (["authorization", "host", "connection", "expect", "transfer-encoding", "content-length", "keep-alive"].includes(k)) continue;
      out[k] = v;
    }
    out["content-length"] = body.length;
    out.host = `127.0.0.1:${innerPort}`;
    const up = http.request({ host: "127.0.0.1", port: innerPort, method: req.method, path, headers: out }, (r) => {
      const h = { ...r.headers };
      delete h.connection;
      delete h["keep-alive"];
      const chunks = [];
      if (onAnswer || !res) r.on("data", (c) => chunks.push(c));
      if (res) {
        res.writeHead(r.statusCode, h);
        r.pipe(res);
      }
      r.on("end", () => {
        if (onAnswer) onAnswer(r.statusCode, r.headers, Buffer.concat(chunks));
        resolve(r.statusCode);
      });
      r.on("error", () => resolve(r.statusCode));
    });
    up.on("error", (e) => {
      const err = new S3Error(500, "InternalError", `s3rver: ${e.message}`);
      if (res) sendError(req, res, err, "fake");
      resolve(500);
    });
    up.end(body);
  });
}

async function s3Request(req, res) {
  const url = new URL(req.url, "http://localhost");
  if (url.pathname.startsWith("/_fake/")) return control(req, res, url);
  const requestId = randomBytes(8).toString("hex").toUpperCase();
  const entry = {
    id: nextId++,
    method: req.method,
    path: url.pathname,
    query: url.search.slice(1),
    host: req.headers.host || "",
    // the scheme of an Authorization header sent ("AWS4-HMAC-SHA256",
    // "Bearer"...), never its value; null when none was sent
    authorization: req.headers.authorization ? String(req.headers.authorization).split(" ")[0] : null,
    status: null,
    signature: null,
    auth: null,
    error: null,
    bytes: 0,
  };
  if (scenario.down === "reset") {
    entry.error = "down: connection reset";
    logRequest(entry);
    req.socket.destroy();
    return;
  }
  let body;
  try {
    body = await readBody(req);
  } catch (e) {
    entry.error = e.dropped !== undefined ? `dropped after ${e.dropped} bytes of the body` : String(e.message);
    entry.bytes = e.dropped || 0;
    logRequest(entry);
    return;
  }
  entry.bytes = body.length;
  if (scenario.delay_ms > 0) await new Promise((r) => setTimeout(r, scenario.delay_ms));
  const late = scenario.delay.find((r) => matches(r, req.method, url));
  if (late) {
    entry.delayed_ms = late.ms;
    waiting.add(entry);
    await new Promise((r) => setTimeout(r, late.ms));
    waiting.delete(entry);
  }
  const headers = headerBag(req.rawHeaders);
  const host = (headers.host || "").replace(/:\d+$/, "").toLowerCase();
  const suffix = `.${OPTS.vhostDomain.toLowerCase()}`;
  const vhostBucket = host.endsWith(suffix) ? host.slice(0, -suffix.length) : null;
  try {
    const injected = injectedFailure(req.method, url);
    if (injected) {
      entry.error = `injected ${injected.code}`;
      throw injected;
    }
    const who = await authenticate(req, url, headers, body);
    entry.signature = "ok";
    entry.auth = who.auth;
    const status = await multipart(req, res, url, headers, body, vhostBucket, entry);
    if (status !== false) {
      entry.status = status;
      logRequest(entry);
      return;
    }
  } catch (e) {
    if (!(e instanceof S3Error)) {
      e = new S3Error(500, "InternalError", `sigv4-proxy: ${e.stack || e}`);
    }
    if (entry.signature === null && !entry.error) entry.signature = `${e.code}: ${e.message}`;
    entry.status = e.status;
    logRequest(entry);
    sendError(req, res, e, requestId);
    return;
  }
  entry.status = await forward(req, res, url, headers, body, vhostBucket);
  logRequest(entry);
}

// ------------------------------------------------------------ multipart uploads
//
// s3rver has no ListMultipartUploads, ListParts or AbortMultipartUpload, so
// the proxy keeps the uploads itself: an upload is open from the answer of
// CreateMultipartUpload (POST ?uploads) until CompleteMultipartUpload
// succeeds or AbortMultipartUpload; UploadPart records each part (ETag,
// size).  The three calls are answered here, in S3's XML (API reference:
// ListMultipartUploads, ListParts, AbortMultipartUpload); an UploadPart,
// Complete, ListParts or Abort of an upload that is not open is S3's
// 404 NoSuchUpload.  Kept in memory: a restart of the proxy forgets them.

const uploads = new Map(); // uploadId -> {bucket, key, initiated (Date), parts: Map(n -> {etag, size, at})}
const S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/";
const OWNER = "<ID>reelgate-test</ID><DisplayName>reelgate-test</DisplayName>";

function noSuchUpload(uploadId) {
  return new S3Error(404, "NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.", { UploadId: uploadId });
}

function sendXml(res, status, xml) {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n${xml}`;
  res.writeHead(status, { "Content-Type": "application/xml", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

function el(name, value) {
  return `<${name}>${xmlEscape(value)}</${name}>`;
}

// Splits "/bucket/key..." (decoded) into its bucket and key ("" for the bucket itself).
function bucketAndKey(url, vhostBucket) {
  const p = percentDecode(url.pathname).toString("utf8");
  const full = vhostBucket ? `/${vhostBucket}${p}` : p;
  const slash = full.indexOf("/", 1);
  return slash < 0 ? [full.slice(1), ""] : [full.slice(1, slash), full.slice(slash + 1)];
}

function listUploadsXml(bucket, q) {
  const prefix = typeof q.prefix === "string" ? q.prefix : "";
  const max = Math.min(Number(q["max-uploads"] || 1000) || 1000, 1000);
  const open = [...uploads.entries()]
    .filter(([, u]) => u.bucket === bucket && u.key.startsWith(prefix))
    .sort(([ia, a], [ib, b]) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.initiated - b.initiated || (ia < ib ? -1 : 1)));
  const shown = open.slice(0, max);
  const truncated = open.length > shown.length;
  const last = shown[shown.length - 1];
  let x = `<ListMultipartUploadsResult xmlns="${S3_NS}">`;
  x += el("Bucket", bucket) + el("KeyMarker", q["key-marker"] || "") + el("UploadIdMarker", q["upload-id-marker"] || "");
  x += el("NextKeyMarker", last ? last[1].key : "") + el("NextUploadIdMarker", last ? last[0] : "");
  if (prefix) x += el("Prefix", prefix);
  x += el("MaxUploads", max) + el("IsTruncated", truncated ? "true" : "false");
  for (const [id, u] of shown) {
    x += `<Upload>${el("Key", u.key)}${el("UploadId", id)}<Initiator>${OWNER}</Initiator><Owner>${OWNER}</Owner>`;
    x += `${el("StorageClass", "STANDARD")}${el("Initiated", u.initiated.toISOString())}</Upload>`;
  }
  return x + "</ListMultipartUploadsResult>";
}

function listPartsXml(id, u, q) {
  const marker = Number(q["part-number-marker"] || 0) || 0;
  const max = Math.min(Number(q["max-parts"] || 1000) || 1000, 1000);
  const all = [...u.parts.entries()].filter(([n]) => n > marker).sort(([a], [b]) => a - b);
  const shown = all.slice(0, max);
  const truncated = all.length > shown.length;
  let x = `<ListPartsResult xmlns="${S3_NS}">`;
  x += el("Bucket", u.bucket) + el("Key", u.key) + el("UploadId", id);
  x += `<Initiator>${OWNER}</Initiator><Owner>${OWNER}</Owner>${el("StorageClass", "STANDARD")}`;
  x += el("PartNumberMarker", marker) + el("NextPartNumberMarker", shown.length ? shown[shown.length - 1][0] : marker);
  x += el("MaxParts", max) + el("IsTruncated", truncated ? "true" : "false");
  for (const [n, p] of shown) {
    x += `<Part>${el("PartNumber", n)}${el("LastModified", p.at.toISOString())}${el("ETag", p.etag)}${el("Size", p.size)}</Part>`;
  }
  return x + "</ListPartsResult>";
}

// Answers or forwards a multipart request; false: not one (forward as is).
async function multipart(req, res, url, headers, body, vhostBucket, entry) {
  const q = parseQuery(url.search.slice(1));
  const [bucket, key] = bucketAndKey(url, vhostBucket);
  const m = req.method;
  if (m === "GET" && key === "" && "uploads" in q) {
    sendXml(res, 200, listUploadsXml(bucket, q));
    return 200;
  }
  if (m === "POST" && key && "uploads" in q) {
    const held = scenario.hold.some((r) => matches(r, m, url));
    const status = await forward(req, held ? null : res, url, headers, body, vhostBucket, (st, _h, answer) => {
      const id = /<UploadId>([^<]+)<\/UploadId>/.exec(answer.toString("utf8"));
      if (st === 200 && id) uploads.set(id[1], { bucket, key, initiated: new Date(), parts: new Map() });
    });
    if (held) entry.error = "answer held (the upload is open)";
    return status;
  }
  if (!("uploadId" in q) || !key) return false;
  const id = q.uploadId;
  const u = uploads.get(id);
  if (!u || u.bucket !== bucket || u.key !== key) throw noSuchUpload(id);
  if (m === "GET") {
    sendXml(res, 200, listPartsXml(id, u, q));
    return 200;
  }
  if (m === "DELETE") {
    uploads.delete(id);
    res.writeHead(204, { "x-amz-request-id": entry.id.toString() });
    res.end();
    return 204;
  }
  if (m === "PUT" && "partNumber" in q) {
    const n = Number(q.partNumber);
    // A held part: stored (ListParts lists it), its answer lost on the way.
    const held = scenario.hold_parts.includes(n) || scenario.hold.some((r) => matches(r, m, url));
    const status = await forward(req, held ? null : res, url, headers, body, vhostBucket, (st, h) => {
      if (st === 200 && uploads.has(id)) u.parts.set(n, { etag: h.etag, size: body.length, at: new Date() });
    });
    if (held) entry.error = "answer held (the part is stored)";
    return status;
  }
  if (m === "POST") {
    return forward(req, res, url, headers, body, vhostBucket, (status, _h, answer) => {
      if (status === 200 && !/<Error>/.test(answer.toString("utf8"))) uploads.delete(id);
    });
  }
  return false;
}

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.removeListener("error", reject);
      resolve(server.address().port);
    });
  });
}

function makeMainServer() {
  const s = http.createServer((req, res) => {
    s3Request(req, res).catch((e) => {
      process.stderr.write(`sigv4-proxy: ${e.stack || e}\n`);
      if (!res.headersSent) sendError(req, res, new S3Error(500, "InternalError", String(e)), "fake");
    });
  });
  s.keepAliveTimeout = 5000;
  return s;
}

// Closes or reopens the S3 port as scenario.down says.
async function applyDown() {
  const refuse = scenario.down === true || scenario.down === "refuse";
  if (refuse && mainServer) {
    const s = mainServer;
    mainServer = null;
    s.closeAllConnections();
    await new Promise((r) => s.close(() => r()));
  } else if (!refuse && !mainServer) {
    mainServer = makeMainServer();
    await listen(mainServer, OPTS.port);
  }
}

async function main() {
  s3rver = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: OPTS.dir, vhostBuckets: false });
  const addr = await s3rver.run();
  innerPort = addr.port;
  mainServer = makeMainServer();
  OPTS.port = await listen(mainServer, OPTS.port);
  controlServer = http.createServer((req, res) => {
    control(req, res, new URL(req.url, "http://localhost")).catch((e) => sendJson(res, 500, { error: String(e) }));
  });
  const cport = await listen(controlServer, OPTS.controlPort);
  process.stdout.write(`ready ${OPTS.port} ${cport}\n`);
}

for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
main().catch((e) => {
  process.stderr.write(`sigv4-proxy: ${e.stack || e}\n`);
  process.exit(1);
});
