/* reelgate console: the create form's rules.
 *
 * validateCreate checks a create the way the server does (src/validate.c,
 * docs/api.md) from the model's capabilities (GET /v1/models), so that a
 * request the server would refuse is not sent; the server still decides,
 * and its own errors are shown beside the field their `param` names
 * (fieldOfParam).  No DOM here: the values come in as plain strings.
 */

const IMAGE_TYPES = new Set(["image/png", "image/jpeg", "image/webp"]);
const SEED_MAX = 4294967295;
const USER_MAX_BYTES = 256;
const META_KEY_MAX = 64;

/* allowedSeconds: the durations a select offers (a list model), as strings. */
export function allowedSeconds(c) {
	if (Array.isArray(c.seconds))
		return c.seconds.map(String);
	const out = [];
	for (let s = c.seconds_min; s <= c.seconds_max && out.length < 600; s++)
		out.push(String(s));
	return out;
}

function wholeNumber(text) {
	return /^[0-9]+$/.test(String(text).trim()) ? Number(String(text).trim()) : NaN;
}

function utf8Bytes(s) {
	return new TextEncoder().encode(s).length;
}

/* The size tier of a size, as the ledger counts it (the short edge). */
function tierOf(w, h) {
	const edge = Math.min(w, h);
	for (const t of [480, 720, 1080, 1440, 2160, 4320])
		if (edge <= t)
			return `${t}p`;
	return null;
}

function sizeOf(c, v) {
	if (v.size) {
		const m = /^([0-9]+)x([0-9]+)$/.exec(v.size);
		return m ? [Number(m[1]), Number(m[2])] : null;
	}
	if (v.width !== "" && v.height !== "")
		return [wholeNumber(v.width), wholeNumber(v.height)];
	return c.default_size ? c.default_size.split("x").map(Number) : null;
}

/* validateCreate: {field: message} for every field the server would
 * refuse; {} when the request may go.  c: the model's capabilities; v: the
 * form's values (strings; imageFile a File or null). */
export function validateCreate(c, v) {
	const errs = {};
	const chars = [...v.prompt].length;
	if (v.prompt.trim() === "")
		errs.prompt = "Describe the video to make.";
	else if (c.max_prompt_chars && chars > c.max_prompt_chars)
		errs.prompt = `The prompt is too long: ${chars} characters, the limit is ${c.max_prompt_chars}.`;

	if (v.seconds !== "") {
		const s = wholeNumber(v.seconds);
		const ok = Number.isFinite(s) && s > 0 &&
			(Array.isArray(c.seconds) ? c.seconds.map(String).includes(String(s))
						  : s >= c.seconds_min && s <= c.seconds_max);
		if (!ok)
			errs.seconds = Array.isArray(c.seconds)
				? `This model makes videos of ${c.seconds.join(", ")} seconds.`
				: `Seconds must be a whole number from ${c.seconds_min} to ${c.seconds_max}.`;
	}

	if (Array.isArray(c.sizes)) {
		if (v.size && !c.sizes.includes(v.size))
			errs.size = `This model makes ${c.sizes.join(", ")}.`;
	} else if (v.width !== "" || v.height !== "") {
		const w = wholeNumber(v.width), hgt = wholeNumber(v.height);
		if (v.width === "" || v.height === "")
			errs.size = "Give both the width and the height.";
		else if (!Number.isFinite(w) || !Number.isFinite(hgt) || w % 2 || hgt % 2)
			errs.size = "Width and height must be even whole numbers.";
		else if (w < c.min_width || hgt < c.min_height || w > c.max_width || hgt > c.max_height)
			errs.size = `The size must be from ${c.min_width} × ${c.min_height} to ${c.max_width} × ${c.max_height}.`;
	}
	if (!errs.size && c.price && c.price.per_second_by_tier && c.price.per_second === undefined &&
	    c.price.per_video === undefined) {
		const wh = sizeOf(c, v);
		const tier = wh && tierOf(wh[0], wh[1]);
		if (wh && !(tier in c.price.per_second_by_tier))
			errs.size = `This model has no price for ${tier || "this"} videos; pick a size it prices: ` +
				Object.keys(c.price.per_second_by_tier).join(", ") + ".";
	}

	if (v.fps !== "") {
		const f = wholeNumber(v.fps);
		if (!Number.isFinite(f) || f < 1 || f > (c.max_fps || 1))
			errs.fps = `Frames per second must be a whole number from 1 to ${c.max_fps}.`;
	}
	if (v.seed !== "") {
		const s = wholeNumber(v.seed);
		if (!Number.isFinite(s) || s > SEED_MAX)
			errs.seed = `The seed must be a whole number from 0 to ${SEED_MAX}.`;
	}
	if (v.n !== "") {
		const n = wholeNumber(v.n);
		if (!Number.isFinite(n) || n < 1 || n > (c.max_n || 1))
			errs.n = `How many: a whole number from 1 to ${c.max_n || 1}.`;
	}
	if (utf8Bytes(v.user) > USER_MAX_BYTES)
		errs.user = `The user is too long: at most ${USER_MAX_BYTES} bytes.`;

	if (v.imageFile) {
		if (!IMAGE_TYPES.has(v.imageFile.type))
			errs.image = "The image must be a PNG, JPEG or WebP file.";
		else if (c.max_image_bytes && v.imageFile.size > c.max_image_bytes)
			errs.image = `The image is too large: ${v.imageFile.size} bytes, the limit is ${c.max_image_bytes}.`;
	} else if (v.imageUrl && !/^(https?:\/\/[^\s]+|data:image\/(png|jpeg|webp);base64,[A-Za-z0-9+/=]+)$/i.test(v.imageUrl)) {
		errs.image = "The image URL must be an http(s) URL or a data:image/png|jpeg|webp;base64 URL.";
	}

	const seen = new Set();
	for (const [k, val] of v.metadata) {
		if (k === "") {
			if (val === "")
				continue; /* an empty row is not sent */
			errs.metadata = `The metadata value '${val.slice(0, 20)}' has no key: give it one or remove the row.`;
			break;
		}
		if ([...k].length > META_KEY_MAX) {
			errs.metadata = `Metadata keys are at most ${META_KEY_MAX} characters: '${k.slice(0, 20)}…'.`;
			break;
		}
		if (seen.has(k)) {
			errs.metadata = `The metadata key '${k}' appears twice.`;
			break;
		}
		seen.add(k);
	}
	return errs;
}

/* fieldOfParam: the form field a server error's `param` belongs to. */
export function fieldOfParam(param) {
	if (!param)
		return null;
	const p = String(param);
	if (p === "duration" || p === "seconds")
		return "seconds";
	if (p === "size" || p === "width" || p === "height")
		return "size";
	if (p === "image" || p.startsWith("input_reference"))
		return "image";
	if (p === "metadata" || p.startsWith("metadata."))
		return "metadata";
	if (["model", "prompt", "fps", "seed", "n", "user", "response_format"].includes(p))
		return p;
	return null;
}

/* priceEstimate: what the request reserves at the model's price, as the
 * server counts it (docs/usage.md): price x seconds x n, or price x n. */
export function priceEstimate(c, v) {
	const p = c.price;
	if (!p)
		return "";
	const n = wholeNumber(v.n || "1") || 1;
	const secs = wholeNumber(v.seconds || c.default_seconds || "0") || 0;
	let each;
	if (p.per_video !== undefined)
		each = p.per_video;
	else {
		const wh = sizeOf(c, v);
		const tier = wh && tierOf(wh[0], wh[1]);
		const rate = p.per_second_by_tier && tier in p.per_second_by_tier ? p.per_second_by_tier[tier]
										     : p.per_second;
		if (rate === undefined)
			return "";
		each = rate * secs;
	}
	const total = Math.round(each * n * 1e6) / 1e6;
	return `Estimated cost: ${total} ${String(p.currency || "").toUpperCase()}` + (n > 1 ? ` (${n} videos)` : "") + ".";
}
