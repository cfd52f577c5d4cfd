#!/usr/bin/env python3
"""fake_comfyui.py: a fake ComfyUI server for reelgate's integration tests.

  fake_comfyui.py --port PORT [--step-seconds 0.5] [--output auto|core|vhs]  |  --self-test

ComfyUI's HTTP API (comfyanonymous/ComfyUI server.py, execution.py) as a gateway uses it, also
under /api/: POST /prompt, GET /prompt, GET|POST /queue, GET /history[/ID], GET /view,
POST /upload/image, POST /interrupt.  Workflows are validated as execution.validate_prompt does,
with its error shapes.  One job runs at a time: pending >= 1 step, running 3 steps (a step is
--step-seconds), then its outputs are real ffmpeg files (testsrc2, H.264) of the workflow's size,
frame count and fps.  Binds 127.0.0.1, prints "ready PORT" once listening (--port 0: a free
port), logs a line per request to stderr, exits 0 on SIGTERM.

Stricter than ComfyUI, so gateway bugs give a 400, not a wrong video: INT/FLOAT/STRING/BOOLEAN
inputs must already be JSON values of that type (ComfyUI coerces: str(None) == "None"); latent
width/height must be multiples of 16 (ComfyUI floors them; the one fake-only error type,
"value_not_multiple_of"); model-file combos take any string.  Faithful, and surprising: a
Wan/Hunyuan latent of `length` frames decodes to ((length-1)//4)*4+1 frames (LTXV: //8*8+1); a
link input given a plain value passes validation and fails when run.  Not faithful: a prompt_id
already queued is answered 200 and not queued again (ComfyUI runs it twice).

Control API (no auth), JSON in and out:
  POST /_fake/scenario {"submit": "ok|500|503|reset|invalid_json|slow|hold",   POST /prompt
                        "poll": "ok|500|invalid_json|reset|slow",     GET /history..., GET /queue
                        "outcome": "success|error|never",            each job queued from now on
                        "view": "ok|404|slow", "upload": "ok|500",
                        "count": N,       each mode set here applies N times, then ok (default: until changed)
                        "delay": S,       seconds for slow and hold (default 2)
                        "message": "...", exception_message of outcome error
                        "output": "auto|core|vhs"}   history shape (persistent; auto: by output node)
    -> {"scenario": {"submit": {"mode", "count", "delay", "message"}, ...}, "output": "auto"}
    submit 500/503/reset queue nothing; invalid_json/slow/hold queue the job and break only the
    answer (hold: none; the connection is closed after `delay` s).  reset is a TCP RST.  outcome
    never: the job stays in queue_running until interrupted.
  POST /_fake/reset -> {"ok": true}   forget jobs, history, files, counters and scenario
  GET /_fake/jobs -> {"jobs": [...], "counters": {...}, "uploads": [...], "scenario", "output"}
    a job per POST /prompt: prompt_id, client_id, number, workflow (as received), extra_data,
    duplicate, status (pending|running|success|error|interrupted|deleted|duplicate|rejected|dropped),
    http_status, error, outcome, files, and the width, height, frames, fps and image it used.
    counters: prompts_received, prompts_queued, duplicates, uploads, views, history_polls,
    queue_polls, interrupts.
"""
import argparse, copy, http.client, json, mimetypes, os, posixpath, re, shutil, signal, socket, struct
import subprocess, sys, tempfile, threading, time, traceback, urllib.error, urllib.parse, urllib.request, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "etc", "comfyui", "wan-t2v.json")
RUN_STEPS, MAXRES, U64 = 3, 16384, 0xFFFFFFFFFFFFFFFF
OOM = ("Allocation on device \nThis error means you ran out of memory on your GPU.\n\nTIPS: If the workflow "
       "worked before you might have accidentally set the batch_size to a large number.")

# ---- node catalogue ---------------------------------------------------------------------------------
# class_type -> (required inputs, optional inputs, RETURN_TYPES, OUTPUT_NODE).  An input spec is a link
# type ("MODEL"; "A,B": either) or a widget (kind, min, max, extra): extra is the multiple an INT must
# be of, or a COMBO's options (None: any string, as for model files).
def INT(lo=None, hi=None, mult=None): return ("INT", lo, hi, mult)
def FLT(lo=None, hi=None): return ("FLOAT", lo, hi, None)
def CHOICE(*opts): return ("COMBO", None, None, opts or None)
STR, BOOL, FILE = ("STRING", None, None, None), ("BOOLEAN", None, None, None), ("IMAGEFILE", None, None, None)
SIZE = {"width": INT(16, MAXRES, 16), "height": INT(16, MAXRES, 16), "length": INT(1, MAXRES),
        "batch_size": INT(1, 4096)}
SAMPLE = {"model": "MODEL", "positive": "CONDITIONING", "negative": "CONDITIONING", "latent_image": "LATENT",
          "steps": INT(1, 10000), "cfg": FLT(0, 100), "sampler_name": CHOICE(), "scheduler": CHOICE()}
NODES = {
    "CheckpointLoaderSimple": ({"ckpt_name": CHOICE()}, {}, ("MODEL", "CLIP", "VAE"), False),
    "UNETLoader": ({"unet_name": CHOICE(), "weight_dtype": CHOICE("default", "fp8_e4m3fn", "fp8_e4m3fn_fast",
                                                                  "fp8_e5m2")}, {}, ("MODEL",), False),
    "CLIPLoader": ({"clip_name": CHOICE(), "type": CHOICE()}, {"device": CHOICE("default", "cpu")}, ("CLIP",), False),
    "VAELoader": ({"vae_name": CHOICE()}, {}, ("VAE",), False),
    "ModelSamplingSD3": ({"model": "MODEL", "shift": FLT(0, 100)}, {}, ("MODEL",), False),
    "CLIPTextEncode": ({"text": STR, "clip": "CLIP"}, {}, ("CONDITIONING",), False),
    "KSampler": (dict(SAMPLE, seed=INT(0, U64), denoise=FLT(0, 1)), {}, ("LATENT",), False),
    "KSamplerAdvanced": (dict(SAMPLE, add_noise=CHOICE("enable", "disable"), noise_seed=INT(0, U64),
                              start_at_step=INT(0, 10000), end_at_step=INT(0, 10000),
                              return_with_leftover_noise=CHOICE("disable", "enable")), {}, ("LATENT",), False),
    "EmptyHunyuanLatentVideo": (SIZE, {}, ("LATENT",), False),
    "EmptyLTXVLatentVideo": (SIZE, {}, ("LATENT",), False),
    "Wan22ImageToVideoLatent": (dict(SIZE, vae="VAE"), {"start_image": "IMAGE"}, ("LATENT",), False),
    "WanImageToVideo": (dict(SIZE, positive="CONDITIONING", negative="CONDITIONING", vae="VAE"),
                        {"clip_vision_output": "CLIP_VISION_OUTPUT", "start_image": "IMAGE"},
                        ("CONDITIONING", "CONDITIONING", "LATENT"), False),
    "LoadImage": ({"image": FILE}, {}, ("IMAGE", "MASK"), False),
    "VAEDecode": ({"samples": "LATENT", "vae": "VAE"}, {}, ("IMAGE",), False),
    "CreateVideo": ({"images": "IMAGE", "fps": FLT(1, 120)}, {"audio": "AUDIO"}, ("VIDEO",), False),
    "SaveVideo": ({"video": "VIDEO", "filename_prefix": STR, "format": CHOICE("auto", "mp4"),
                   "codec": CHOICE("auto", "h264")}, {}, (), True),
    "SaveWEBM": ({"images": "IMAGE", "filename_prefix": STR, "codec": CHOICE("vp9", "av1"), "fps": FLT(0.01, 1000),
                  "crf": FLT(0, 63)}, {}, (), True),
    "VHS_VideoCombine": ({"images": "IMAGE,LATENT", "frame_rate": FLT(1), "loop_count": INT(0, 100),
                          "filename_prefix": STR, "format": CHOICE(), "pingpong": BOOL, "save_output": BOOL},
                         {"audio": "AUDIO", "meta_batch": "VHS_BatchManager", "vae": "VAE"}, ("VHS_FILENAMES",), True),
}
LATENTS = {"EmptyHunyuanLatentVideo": 4, "Wan22ImageToVideoLatent": 4, "WanImageToVideo": 4, "EmptyLTXVLatentVideo": 8}

# ---- validation, after execution.validate_prompt and validate_inputs --------------------------------
def err(typ, message, details, **extra):
    return {"type": typ, "message": message, "details": details, "extra_info": extra}

def check_widget(name, val, spec, root):
    """The error for one literal input value, or None."""
    kind, lo, hi, extra = spec
    want = {"INT": int, "FLOAT": (int, float), "BOOLEAN": bool}.get(kind, str)
    if not isinstance(val, want) or (isinstance(val, bool) and kind in ("INT", "FLOAT")):
        return err("invalid_input_type", f"Failed to convert an input value to a {kind} value",
                   f"{name}, {val}, not a JSON {kind.lower()}", input_name=name, received_value=val)
    if kind == "IMAGEFILE":   # LoadImage.VALIDATE_INPUTS
        return None if stored_file(root, val, "input") else err(
            "custom_validation_failed", "Custom validation failed for node", f"{name} - Invalid image file: {val}",
            input_name=name)
    if lo is not None and val < lo:
        return err("value_smaller_than_min", f"Value {val} smaller than min of {lo}", name, input_name=name,
                   received_value=val)
    if hi is not None and val > hi:
        return err("value_bigger_than_max", f"Value {val} bigger than max of {hi}", name, input_name=name,
                   received_value=val)
    if kind == "INT" and extra and val % extra:
        return err("value_not_multiple_of", f"Value {val} is not a multiple of {extra}",
                   f"{name} (fake-only check: ComfyUI would floor it)", input_name=name, received_value=val)
    if kind == "COMBO" and extra and val not in extra:
        return err("value_not_in_list", "Value not in list", f"{name}: '{val}' not in {list(extra)}",
                   input_name=name, received_value=val)
    return None

def validate_node(prompt, nid, validated, root, broken):
    """(valid, errors) of node nid, after validating the nodes it links to."""
    if nid in validated:
        return validated[nid]
    node = prompt[nid]
    inputs, (req, opt, _, _) = node["inputs"], NODES[node["class_type"]]
    errors, valid = [], True
    for name, spec in list(req.items()) + list(opt.items()):
        if name not in inputs:
            if name in req:
                errors.append(err("required_input_missing", "Required input is missing", name, input_name=name))
            continue
        val, want = inputs[name], spec if isinstance(spec, str) else spec[0]
        if isinstance(val, list):
            if len(val) != 2:
                errors.append(err("bad_linked_input", "Bad linked input, must be a length-2 list of [node_id, "
                                  "slot_index]", name, input_name=name, received_value=val))
                continue
            got = NODES[prompt[val[0]]["class_type"]][2][val[1]]   # a bad link raises, as in ComfyUI
            if want != "*" and got not in want.split(","):
                errors.append(err("return_type_mismatch", "Return type mismatch between linked nodes",
                                  f"{name}, received_type({got}) mismatch input_type({want})", input_name=name,
                                  received_type=got, linked_node=val))
                continue
            try:
                valid = validate_node(prompt, val[0], validated, root, broken)[0] and valid
            except Exception as ex:
                valid = False
                validated[val[0]] = (False, [err("exception_during_inner_validation", "Exception when validating "
                                                 "inner node", str(ex), input_name=name, exception_message=str(ex),
                                                 exception_type=type(ex).__name__, linked_node=val)])
        elif isinstance(spec, str):
            broken.append((nid, name, val))   # ComfyUI checks nothing here; the node fails when it runs
        elif check_widget(name, val, spec, root):
            errors.append(check_widget(name, val, spec, root))
    validated[nid] = (not errors and valid, errors)
    return validated[nid]

def validate_prompt(prompt, root):
    """(ok, error, good_outputs, node_errors, broken_links), like execution.validate_prompt."""
    if not isinstance(prompt, dict):   # ComfyUI itself answers 500 here
        return False, err("invalid_prompt", "Cannot execute because the prompt is not an object.", ""), [], {}, []
    outputs = []
    for nid, node in prompt.items():
        if not isinstance(node, dict) or "class_type" not in node:
            return False, err("invalid_prompt", "Cannot execute because a node is missing the class_type property.",
                              f"Node ID '#{nid}'"), [], {}, []
        if node["class_type"] not in NODES:
            return False, err("invalid_prompt", f"Cannot execute because node {node['class_type']} does not exist.",
                              f"Node ID '#{nid}'"), [], {}, []
        if NODES[node["class_type"]][3]:
            outputs.append(nid)
    if not outputs:
        return False, err("prompt_no_outputs", "Prompt has no outputs", ""), [], {}, []
    validated, node_errors, good, failed, broken = {}, {}, [], [], []
    for o in outputs:
        try:
            ok, reasons = validate_node(prompt, o, validated, root, broken)
        except Exception as ex:
            ok, reasons = False, [err("exception_during_validation", "Exception when validating node", str(ex),
                                      exception_type=type(ex).__name__)]
            validated[o] = (False, reasons)
        if ok:
            good.append(o)
            continue
        failed.append(reasons)
        for nid, (v, rs) in validated.items():   # nodes downstream of a bad one fail without errors: skipped
            if not v and rs:
                node_errors.setdefault(nid, {"errors": rs, "dependent_outputs": [],
                                             "class_type": prompt[nid]["class_type"]})["dependent_outputs"].append(o)
    if not good:   # ComfyUI lists only the output nodes' own errors here
        details = "\n".join(f"{e['message']}: {e['details']}" for rs in failed for e in rs)
        return False, err("prompt_outputs_failed_validation", "Prompt outputs failed validation", details), [], \
            node_errors, []
    return True, None, good, node_errors, broken

def upstream(prompt, start):
    """Every node reachable from the nodes in start through links (start included)."""
    seen, todo = set(), list(start)
    while todo:
        nid = todo.pop()
        if nid not in seen and nid in prompt:
            seen.add(nid)
            todo += [v[0] for v in prompt[nid]["inputs"].values() if isinstance(v, list) and len(v) == 2]
    return seen

def video_params(prompt, outputs):
    """The size, frame count, fps and start image a run of the prompt would use."""
    p = {"width": 832, "height": 480, "frames": 33, "fps": None, "image": None}
    for nid in sorted(upstream(prompt, outputs)):
        ct, ins = prompt[nid]["class_type"], prompt[nid]["inputs"]
        num = lambda k: ins.get(k) if type(ins.get(k)) in (int, float) else None   # a link keeps the default
        if ct in LATENTS and num("length"):
            p.update(width=num("width") or 832, height=num("height") or 480,
                     frames=(int(num("length")) - 1) // LATENTS[ct] * LATENTS[ct] + 1)
        fps_key = {"CreateVideo": "fps", "SaveWEBM": "fps", "VHS_VideoCombine": "frame_rate"}.get(ct)
        p["fps"] = (num(fps_key) if fps_key else None) or p["fps"]
        p["image"] = ins.get("image") if ct == "LoadImage" else p["image"]
    p["fps"] = p["fps"] or 24
    return p

def stored_file(root, name, default_type):
    """The path of a stored file named as LoadImage and /view name them ("sub/x.png [input]"), or None."""
    m = re.fullmatch(r"(.*) \[(input|output|temp)\]", name)
    name, typ = (m.group(1), m.group(2)) if m else (name, default_type)
    base = os.path.join(root, typ)
    path = os.path.abspath(os.path.join(base, name))
    return path if name and os.path.commonpath((base, path)) == base and os.path.isfile(path) else None

# ---- state --------------------------------------------------------------------------------------------
class Job:
    def __init__(self, **kw):
        self.__dict__.update(prompt_id=None, client_id=None, number=None, workflow=None, extra_data={}, status=None,
                             duplicate=False, http_status=200, error=None, outcome=None, message=None, files=[],
                             prompt=None, outputs=[], params={}, broken=[], queued=0, started=0, interrupted=False,
                             seq=0)
        self.__dict__.update(kw)

    def item(self):   # a queue entry, as /queue and history[id]["prompt"] show it
        return [self.number, self.prompt_id, self.prompt, self.extra_data, self.outputs]

    def public(self):
        keys = ("prompt_id", "client_id", "number", "workflow", "extra_data", "duplicate", "status", "http_status",
                "error", "outcome", "files")
        return dict({k: getattr(self, k) for k in keys},
                    **dict(dict.fromkeys(("width", "height", "frames", "fps", "image")), **self.params))

class State:
    def __init__(self, step, output):
        self.lock, self.step, self.default_output, self.gen = threading.RLock(), step, output, 0
        self.cache = tempfile.mkdtemp(prefix="fake-comfyui-cache-")   # rendered videos, kept across resets
        self.root = tempfile.mkdtemp(prefix="fake-comfyui-")          # input/, output/, temp/ as in ComfyUI
        self.reset()

    def reset(self):
        with self.lock:
            for typ in ("input", "output", "temp"):
                shutil.rmtree(os.path.join(self.root, typ), ignore_errors=True)
                os.makedirs(os.path.join(self.root, typ))
            self.gen += 1   # tells the worker to drop a render begun before the reset
            self.jobs, self.by_id, self.pending, self.running, self.history = [], {}, [], None, {}
            self.number, self.counter, self.scen, self.output, self.uploads = 0, {}, {}, self.default_output, []
            self.counters = dict.fromkeys(("prompts_received", "prompts_queued", "duplicates", "uploads", "views",
                                           "history_polls", "queue_polls", "interrupts"), 0)

    def take(self, kind):
        """The scenario for kind ({"mode", "delay", "message"}), counting one use of it."""
        with self.lock:
            sc = self.scen.get(kind)
            if not sc:
                return {"mode": "ok", "delay": 0, "message": None}
            if sc["count"] is not None:
                sc["count"] -= 1
                if sc["count"] <= 0:
                    del self.scen[kind]
            return dict(sc)

S = None   # this process's State

class Resp:
    def __init__(self, status=200, body=b"", ctype="application/json; charset=utf-8", headers=(), action=None):
        self.status, self.body, self.ctype, self.headers, self.action = status, body, ctype, headers, action
        self.delay = 0

def js(obj, status=200):
    return Resp(status, json.dumps(obj).encode())

def empty(status=200):   # aiohttp's web.Response(status=...)
    return Resp(status, b"", "application/octet-stream")

def crash():   # aiohttp's answer when a handler raises (a body that is not JSON, ...)
    return Resp(500, b"500 Internal Server Error\n\nServer got itself in trouble", "text/plain; charset=utf-8")

def broken(sc, resp):
    """resp as the scenario sc breaks it."""
    mode = sc["mode"]
    if mode == "500":
        resp = crash()
    elif mode == "503":   # what a proxy in front of a stuck ComfyUI answers
        resp = Resp(503, b"503: Service Unavailable", "text/plain; charset=utf-8")
    elif mode in ("reset", "hold"):
        resp = Resp(action=mode)
    elif mode == "invalid_json":
        resp = Resp(resp.status, resp.body[:len(resp.body) // 2] + b"\x00<html>", resp.ctype)
    resp.delay = sc["delay"] if mode in ("slow", "hold") else 0
    return resp

# ---- ComfyUI routes -----------------------------------------------------------------------------------
def post_prompt(req):
    sc = S.take("submit")
    with S.lock:
        S.counters["prompts_received"] += 1
        if sc["mode"] in ("500", "503", "reset"):
            S.jobs.append(Job(status="dropped", http_status=sc["mode"]))
            return broken(sc, None)
    try:
        data = json.loads(req.body)
        with S.lock:
            if "number" in data:
                number = float(data["number"])
            else:
                number, S.number = -S.number if data.get("front") else S.number, S.number + 1
    except Exception:
        return crash()
    if "prompt" not in data:
        return js({"error": err("no_prompt", "No prompt provided", "No prompt provided"), "node_errors": {}}, 400)
    received = copy.deepcopy(data["prompt"])
    pid = str(data["prompt_id"]) if "prompt_id" in data else str(uuid.uuid4())   # so null becomes "None", as in ComfyUI
    extra = data.get("extra_data", {})
    if "client_id" in data:
        extra["client_id"] = data["client_id"]
    ok, error, good, node_errors, links = validate_prompt(data["prompt"], S.root)
    job = Job(prompt_id=pid, client_id=data.get("client_id"), number=number, workflow=received, extra_data=extra)
    with S.lock:
        S.jobs.append(job)
        if not ok:
            job.status, job.http_status, job.error = "rejected", 400, error
            return broken(sc, js({"error": error, "node_errors": node_errors}, 400))
        if pid in S.by_id:
            job.status, job.duplicate = "duplicate", True
            S.counters["duplicates"] += 1
        else:
            oc = S.take("outcome")
            job.__dict__.update(status="pending", prompt=data["prompt"], outputs=good, broken=links, seq=len(S.jobs),
                                params=video_params(data["prompt"], good), queued=time.time(),
                                outcome={"ok": "success"}.get(oc["mode"], oc["mode"]), message=oc["message"])
            S.by_id[pid] = job
            S.pending.append(job)
            S.counters["prompts_queued"] += 1
    return broken(sc, js({"prompt_id": pid, "number": number, "node_errors": node_errors}))

def get_queue(req):
    with S.lock:
        S.counters["queue_polls"] += 1
        return js({"queue_running": [S.running.item()] if S.running else [],
                   "queue_pending": [j.item() for j in sorted(S.pending, key=lambda j: (j.number, j.seq))]})

def get_history(req, pid=None):
    with S.lock:
        if pid is not None:
            S.counters["history_polls"] += 1
            return js({pid: S.history[pid]} if pid in S.history else {})
        items, n = list(S.history.items()), int(req.query.get("max_items") or 0)
        return js(dict(items[-n:] if n > 0 else items))

def post_queue(req):   # {"clear": true} and {"delete": [prompt_id, ...]} only touch pending jobs
    data = json.loads(req.body)
    with S.lock:
        for j in list(S.pending):
            if data.get("clear") or j.prompt_id in data.get("delete", []):
                S.pending.remove(j)
                j.status = "deleted"
    return empty()

def post_interrupt(req):   # {"prompt_id": ...} that is not the running job is ignored; {} interrupts it
    try:
        data = json.loads(req.body or b"{}")
    except ValueError:
        data = {}
    with S.lock:
        S.counters["interrupts"] += 1
        if S.running and data.get("prompt_id") in (None, "", S.running.prompt_id):
            S.running.interrupted = True
    return empty()

def post_upload(req):
    if S.take("upload")["mode"] == "500":
        return crash()
    m, fields = re.search(r'boundary="?([^";]+)"?', req.headers.get("Content-Type", "")), {}
    for part in req.body.split(b"--" + m.group(1).encode())[1:] if m else []:
        if part.startswith(b"--"):
            break
        head, _, data = part.partition(b"\r\n\r\n")
        name, fname = re.search(rb'\bname="([^"]*)"', head), re.search(rb'\bfilename="([^"]*)"', head)
        data = data[:-2] if data.endswith(b"\r\n") else data
        if name:
            fields[name.group(1).decode()] = (fname.group(1).decode(), data) if fname else data.decode()
    image, typ, sub = fields.get("image"), fields.get("type") or "input", fields.get("subfolder", "")
    if not isinstance(image, tuple) or not image[0] or typ not in ("input", "output", "temp"):
        return empty(400)
    filename, data, base = image[0], image[1], os.path.join(S.root, typ)
    folder = os.path.join(base, os.path.normpath(sub))
    if os.path.commonpath((base, os.path.abspath(os.path.join(folder, filename)))) != base:
        return empty(400)
    with S.lock:
        os.makedirs(folder, exist_ok=True)
        (stem, ext), i, path = os.path.splitext(filename), 1, os.path.join(folder, filename)
        while fields.get("overwrite") not in ("true", "1") and os.path.exists(path):
            with open(path, "rb") as f:
                if f.read() == data:   # the same bytes: the existing name is reused
                    break
            filename, i = f"{stem} ({i}){ext}", i + 1
            path = os.path.join(folder, filename)
        with open(path, "wb") as f:
            f.write(data)
        S.counters["uploads"] += 1
        S.uploads.append({"name": filename, "subfolder": sub, "type": typ, "bytes": len(data)})
    return js({"name": filename, "subfolder": sub, "type": typ})

def get_view(req):
    sc, q = S.take("view"), req.query
    with S.lock:
        S.counters["views"] += 1
    if "filename" not in q:
        return empty(404)
    m = re.fullmatch(r"(.*) \[(input|output|temp)\]", q["filename"])
    name, typ = (m.group(1), m.group(2)) if m else (q["filename"], q.get("type", "output"))
    if not name or name[0] == "/" or ".." in name or typ not in ("input", "output", "temp"):
        return empty(400)
    folder = base = os.path.join(S.root, typ)
    if "subfolder" in q:
        folder = os.path.join(base, q["subfolder"])
        if os.path.commonpath((os.path.abspath(folder), base)) != base:
            return empty(403)
    name = os.path.basename(name)
    path = os.path.join(folder, name)
    if sc["mode"] == "404" or not os.path.isfile(path):
        return empty(404)
    with open(path, "rb") as f:
        return broken(sc, Resp(200, f.read(), mimetypes.guess_type(name)[0] or "application/octet-stream",
                               [("Content-Disposition", f'filename="{name}"')]))

# ---- control routes ---------------------------------------------------------------------------------
MODES = {"submit": ("ok", "500", "503", "reset", "invalid_json", "slow", "hold"), "upload": ("ok", "500"),
         "poll": ("ok", "500", "invalid_json", "reset", "slow"), "outcome": ("success", "error", "never"),
         "view": ("ok", "404", "slow")}

def fake_scenario(req):
    try:
        data = json.loads(req.body or b"{}")
        bad = (set(data) - set(MODES) - {"count", "delay", "message", "output"}) | \
            {k for k in MODES if k in data and str(data[k]) not in MODES[k]}
        assert not bad and data.get("output", "auto") in ("auto", "core", "vhs"), "bad keys or values: %s" % bad
        count, delay = data.get("count"), float(data.get("delay", 2))
        assert count is None or (type(count) is int and count > 0), "count must be an integer > 0"
    except (ValueError, TypeError, AttributeError, AssertionError) as ex:
        return js({"error": "bad scenario: %s" % ex, "modes": MODES}, 400)
    with S.lock:
        for k in (k for k in MODES if k in data):
            if str(data[k]) in ("ok", "success"):
                S.scen.pop(k, None)
            else:
                S.scen[k] = {"mode": str(data[k]), "count": count, "delay": delay, "message": data.get("message")}
        S.output = data.get("output", S.output)
        return js({"scenario": S.scen, "output": S.output})

def fake_jobs(req):
    with S.lock:
        return js({"jobs": [j.public() for j in S.jobs], "counters": S.counters, "uploads": S.uploads,
                   "scenario": S.scen, "output": S.output})

ROUTES = {("POST", "/prompt"): post_prompt, ("GET", "/queue"): get_queue, ("POST", "/queue"): post_queue,
          ("GET", "/history"): get_history, ("POST", "/interrupt"): post_interrupt,
          ("POST", "/upload/image"): post_upload, ("GET", "/view"): get_view,
          ("GET", "/prompt"): lambda r: js({"exec_info": {"queue_remaining": len(S.pending) + bool(S.running)}}),
          ("POST", "/_fake/scenario"): fake_scenario, ("GET", "/_fake/jobs"): fake_jobs,
          ("POST", "/_fake/reset"): lambda r: S.reset() or js({"ok": True})}

def route(req):
    path = req.path[4:] if req.path.startswith("/api/") else req.path
    fn = ROUTES.get((req.method, path))
    if req.method == "GET" and path.startswith("/history/"):
        fn = lambda r: get_history(r, urllib.parse.unquote(path[len("/history/"):]))
    if fn is None:
        return Resp(404, b"404: Not Found", "text/plain; charset=utf-8")
    if req.method == "GET" and path.startswith(("/history", "/queue")):   # the "poll" scenario
        return broken(S.take("poll"), fn(req))
    return fn(req)

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, as aiohttp

    def version_string(self):
        return "Python/3.11 aiohttp/3.11 (fake ComfyUI)"

    def log_message(self, *args):   # handle_one writes one line per request instead
        pass

    def do_GET(self): self.handle_one("GET")
    def do_HEAD(self): self.handle_one("GET", head=True)
    def do_POST(self): self.handle_one("POST")

    def handle_one(self, method, head=False):
        t0, url = time.time(), urllib.parse.urlsplit(self.path)
        req = type("Req", (), dict(method=method, path=url.path, headers=self.headers,
                                   query=dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))))
        try:
            req.body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            r = route(req)
        except Exception:
            traceback.print_exc()
            r = crash()
        time.sleep(r.delay)
        if r.action == "reset":   # SO_LINGER 0, then close: the peer gets a RST, not a FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            os.close(self.connection.detach())
        elif r.action != "hold":   # hold: the connection is closed with no answer
            self.send_response(r.status)
            for k, v in [("Content-Type", r.ctype), ("Content-Length", str(len(r.body)))] + list(r.headers):
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(b"" if head else r.body)
        self.close_connection = self.close_connection or r.action is not None
        sys.stderr.write("fake_comfyui: %s %s -> %s %.3fs\n" % (method, self.path, r.action or r.status,
                                                               time.time() - t0))

# ---- the executor: one job at a time ------------------------------------------------------------------
def render(p, ext):
    """The path of a cached MP4 (or WebM) with p's size, frame count and fps."""
    path = os.path.join(S.cache, "%dx%d_%d_%g.%s" % (p["width"], p["height"], p["frames"], p["fps"], ext))
    if not os.path.exists(path):
        codec = (["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "0", "-crf", "45"]
                 if ext == "webm" else ["-c:v", "libx264", "-preset", "ultrafast", "-movflags", "+faststart"])
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=%dx%d:"
                        "rate=%g" % (p["width"], p["height"], p["fps"]), "-frames:v", str(p["frames"]), "-pix_fmt",
                        "yuv420p"] + codec + [path + ".part." + ext], check=True, capture_output=True, timeout=300)
        os.replace(path + ".part." + ext, path)
    return path

def save_outputs(job):
    """Write the files the job's output nodes would write; return history's "outputs"."""
    outputs = {}
    for nid in sorted(job.outputs):
        ct, ins = job.prompt[nid]["class_type"], job.prompt[nid]["inputs"]
        vhs = S.output == "vhs" or (S.output == "auto" and ct == "VHS_VideoCombine")
        ext = "webm" if ct == "SaveWEBM" else "mp4"
        default = {"SaveVideo": "video/ComfyUI", "VHS_VideoCombine": "AnimateDiff"}.get(ct, "ComfyUI")
        sub, stem = posixpath.split(ins.get("filename_prefix") or default)
        typ = "temp" if ins.get("save_output") is False else "output"
        with S.lock:
            n = S.counter[(typ, sub, stem)] = S.counter.get((typ, sub, stem), 0) + 1
        name = f"{stem}_{n:05}.{ext}" if vhs else f"{stem}_{n:05}_.{ext}"   # VHS names have no trailing "_"
        path = os.path.join(S.root, typ, sub, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shutil.copyfile(render(job.params, ext), path)
        job.files.append({"filename": name, "subfolder": sub, "type": typ})
        outputs[nid] = {"gifs": [{"filename": name, "subfolder": sub, "type": typ,
                                  "format": "video/webm" if ext == "webm" else "video/h264-mp4",
                                  "frame_rate": float(job.params["fps"]), "workflow": f"{stem}_{n:05}.png",
                                  "fullpath": path}]} if vhs else \
            {"images": [{"filename": name, "subfolder": sub, "type": typ}], "animated": [True]}
    return outputs

def finish(job, status, outputs=None, message=None, exc_type="torch.OutOfMemoryError", node=None):
    """Move the running job into history, as main.prompt_worker and PromptQueue.task_done do."""
    pid, prompt, now, t0 = job.prompt_id, job.prompt, int(time.time() * 1000), int(job.started * 1000)
    node = node or next((n for n in sorted(prompt) if prompt[n]["class_type"].startswith("KSampler")), job.outputs[0])
    executed = sorted(upstream(prompt, [node]) - {node})
    msgs = [["execution_start", {"prompt_id": pid, "timestamp": t0}],
            ["execution_cached", {"nodes": [], "prompt_id": pid, "timestamp": t0}]]
    where = {"prompt_id": pid, "node_id": node, "node_type": prompt[node]["class_type"], "executed": executed}
    if status == "success":
        msgs.append(["execution_success", {"prompt_id": pid, "timestamp": now}])
    elif status == "interrupted":
        msgs.append(["execution_interrupted", dict(where, timestamp=now)])
    else:
        msgs.append(["execution_error", dict(where, exception_message=message, exception_type=exc_type, traceback=[
            '  File "/ComfyUI/execution.py", line 496, in execute\n    output_data, output_ui, has_subgraph = ...\n'],
            current_inputs={k: [v] for k, v in prompt[node]["inputs"].items() if not isinstance(v, list)},
            current_outputs=executed, timestamp=now)])
    S.history[pid] = {"prompt": job.item(), "outputs": outputs or {}, "meta": {
        n: {"node_id": n, "display_node": n, "parent_node": None, "real_node_id": n} for n in outputs or {}},
        "status": {"status_str": "success" if status == "success" else "error", "completed": status == "success",
                   "messages": msgs}}
    job.status, S.running = status, None

def step_jobs():
    """One look at the queue; returns a job whose outputs are due, with the reset generation."""
    now = time.time()
    with S.lock:
        job = S.running
        if job is None:
            ready = [j for j in S.pending if now - j.queued >= S.step]
            if ready:
                job = min(ready, key=lambda j: (j.number, j.seq))
                S.pending.remove(job)
                S.running, job.status, job.started = job, "running", now
        elif job.interrupted:
            finish(job, "interrupted")
        elif job.outcome == "never" or now - job.started < RUN_STEPS * S.step:
            pass
        elif job.outcome == "error":
            finish(job, "error", message=job.message or OOM)
        elif job.broken:   # a link input given a plain value: its node fails when it runs
            nid, name, val = job.broken[0]
            finish(job, "error", node=nid, exc_type="AttributeError",
                   message=f"'{type(val).__name__}' object has no attribute 'clone' (input {name})")
        else:
            return job, S.gen
        return None, S.gen

def worker():
    while True:
        time.sleep(max(S.step / 5, 0.01))
        try:
            job, gen = step_jobs()
            if job is None:
                continue
            try:   # rendering happens unlocked; the job stays in queue_running meanwhile
                outputs, problem = save_outputs(job), None
            except Exception as ex:
                outputs, problem = None, f"fake render failed: {ex!r}"
            with S.lock:
                if S.gen == gen and S.running is job:
                    if problem:
                        finish(job, "error", message=problem, exc_type="RuntimeError")
                    else:
                        finish(job, "interrupted" if job.interrupted else "success", outputs)
        except Exception:
            traceback.print_exc()

def serve(port, step, output):
    global S
    S = State(step, output)
    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    httpd.daemon_threads = True
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *a: threading.Thread(target=httpd.shutdown, daemon=True).start())
    threading.Thread(target=worker, daemon=True).start()
    print("ready %d" % httpd.server_address[1], flush=True)
    try:
        httpd.serve_forever()
    finally:
        shutil.rmtree(S.root, ignore_errors=True)
        shutil.rmtree(S.cache, ignore_errors=True)

# ---- self-test ------------------------------------------------------------------------------------------
# reelgate's input map for etc/comfyui/wan-t2v.json (etc/comfyui/README.md).
MAPPING = {"prompt": ["6", "text"], "negative_prompt": ["7", "text"], "seed": ["3", "seed"], "width": ["55", "width"],
           "height": ["55", "height"], "frames": ["55", "length"], "fps": ["57", "fps"], "image": ["56", "image"]}

def self_test():
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--port", "0", "--step-seconds", "0.1"],
                            stdout=subprocess.PIPE, stderr=log, text=True)
    base = "http://127.0.0.1:%d" % int(proc.stdout.readline().split()[1])

    def call(method, path, body=None, ctype="application/json", timeout=10):
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        try:
            with urllib.request.urlopen(urllib.request.Request(base + path, data, {"Content-Type": ctype},
                                                               method=method), timeout=timeout) as r:
                raw, status = r.read(), r.status
        except urllib.error.HTTPError as e:
            raw, status = e.read(), e.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw

    def expect(cond, what):
        if not cond:
            raise AssertionError(what)

    def fails(path, body, timeout=5):   # no HTTP answer at all
        try:
            call("POST", path, body, timeout=timeout)
        except (OSError, urllib.error.URLError, http.client.HTTPException):
            return True

    def upload(name, data, **fields):
        b = "fake" + uuid.uuid4().hex
        body = f'--{b}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n\r\n'.encode() + data
        body += b"".join(f'\r\n--{b}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}'.encode()
                         for k, v in fields.items())
        return call("POST", "/upload/image", body + f"\r\n--{b}--\r\n".encode(), "multipart/form-data; boundary=" + b)

    def workflow(**values):   # the example with values put in; without an image, node 56 and links to it go
        with open(EXAMPLE) as f:
            wf = json.load(f)
        for k, v in values.items():
            wf[MAPPING[k][0]]["inputs"][MAPPING[k][1]] = v
        if "image" not in values:
            del wf["56"], wf["55"]["inputs"]["start_image"]
        return wf

    def submit(wf, **kw):
        return call("POST", "/prompt", dict(kw, prompt=wf, client_id="self-test"))

    def wait(pid, seen=set()):
        for _ in range(1000):
            q = call("GET", "/queue")[1]
            seen.update(k for k in ("queue_running", "queue_pending") if pid in [i[1] for i in q[k]])
            h = call("GET", "/history/" + urllib.parse.quote(pid))[1]
            if h:
                return h[pid]
            time.sleep(0.03)
        raise AssertionError("job %s never finished" % pid)

    def scenario(**kw):
        expect(call("POST", "/_fake/scenario", kw)[0] == 200, "scenario %r refused" % kw)

    def rejected(wf, typ, node=None, etype=None):
        st, r = submit(wf)
        expect(st == 400 and r["error"]["type"] == typ, r)
        expect(not node or r["node_errors"][node]["errors"][0]["type"] == etype, r["node_errors"])

    try:
        png = b"\x89PNG\r\n\x1a\n" + os.urandom(300) + b"\r\n--\r\n"
        expect(upload("start.png", png) == (200, {"name": "start.png", "subfolder": "", "type": "input"}), "upload")
        expect(upload("start.png", png)[1]["name"] == "start.png", "the same bytes keep their name")
        expect(upload("start.png", png[::-1])[1]["name"] == "start (1).png", "other bytes get (1)")
        expect(upload("start.png", png[::-1], overwrite="true")[1]["name"] == "start.png", "overwrite")
        expect(call("GET", "/view?filename=start.png&type=input")[1] == png[::-1], "view of an upload")

        # Image to video with the example workflow; the MP4 checked with ffprobe.
        wf = workflow(prompt="a red fox", negative_prompt="blur", seed=U64, width=320, height=192, frames=17, fps=16,
                      image="start.png")
        st, r = submit(wf, prompt_id="job-1")
        expect(st == 200 and r["prompt_id"] == "job-1" and r["node_errors"] == {}, r)
        seen = set()
        h = wait("job-1", seen)
        expect(seen == {"queue_pending", "queue_running"}, "states seen: %s" % seen)
        expect(h["status"]["completed"] and h["status"]["messages"][-1][0] == "execution_success", h["status"])
        out = h["outputs"]["58"]
        expect(out == {"images": [{"filename": "ComfyUI_00001_.mp4", "subfolder": "video", "type": "output"}],
                       "animated": [True]}, out)
        with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
            f.write(call("GET", "/api/view?" + urllib.parse.urlencode(out["images"][0]))[1])
            f.flush()
            probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                                    "-show_entries", "stream=codec_name,width,height,r_frame_rate,nb_read_frames",
                                    "-of", "json", f.name],
                                   capture_output=True, text=True, check=True)
        s = json.loads(probe.stdout)["streams"][0]
        expect([s[k] for k in ("codec_name", "width", "height", "r_frame_rate", "nb_read_frames")] ==
               ["h264", 320, 192, "16/1", "17"], s)
        job = call("GET", "/_fake/jobs")[1]["jobs"][0]
        expect(job["workflow"]["6"]["inputs"]["text"] == "a red fox" and job["image"] == "start.png", job)

        # A duplicate prompt_id is answered and not queued; text to video; the VHS shape.
        st, r = submit(wf, prompt_id="job-1")
        jobs = call("GET", "/_fake/jobs")[1]
        expect(st == 200 and jobs["jobs"][-1]["duplicate"] and jobs["counters"]["prompts_queued"] == 1, jobs)
        t2v = workflow(prompt="rain", seed=7, width=256, height=256, frames=48, fps=24)
        wait(submit(t2v)[1]["prompt_id"])
        expect(call("GET", "/_fake/jobs")[1]["jobs"][-1]["frames"] == 45, "a length of 48 decodes to 45 frames")
        vhs = {k: v for k, v in t2v.items() if k not in ("57", "58")}
        vhs["90"] = {"class_type": "VHS_VideoCombine", "inputs": {"images": ["8", 0], "frame_rate": 8, "loop_count": 0,
                     "filename_prefix": "clip", "format": "video/h264-mp4", "pingpong": False, "save_output": True}}
        g = wait(submit(vhs)[1]["prompt_id"])["outputs"]["90"]["gifs"][0]
        expect(g["filename"] == "clip_00001.mp4" and g["format"] == "video/h264-mp4" and g["frame_rate"] == 8, g)
        expect(call("GET", "/view?filename=clip_00001.mp4&subfolder=&type=output")[0] == 200, "VHS file served")

        # Validation errors, in ComfyUI's shapes.
        rejected(dict(wf, **{"99": {"class_type": "NoSuchNode", "inputs": {}}}), "invalid_prompt")
        rejected({k: v for k, v in wf.items() if k != "58"}, "prompt_no_outputs")
        rejected(workflow(image="missing.png"), "prompt_outputs_failed_validation", "56", "custom_validation_failed")
        rejected(workflow(seed=-1), "prompt_outputs_failed_validation", "3", "value_smaller_than_min")
        rejected(workflow(width=1000), "prompt_outputs_failed_validation", "55", "value_not_multiple_of")
        rejected(workflow(prompt=None), "prompt_outputs_failed_validation", "6", "invalid_input_type")
        rejected(dict(t2v, **{"8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["77", 0]}}}),
                 "prompt_outputs_failed_validation", "8", "exception_during_inner_validation")
        expect(call("POST", "/prompt", {"client_id": "x"})[1]["error"]["type"] == "no_prompt", "no_prompt")
        expect(call("POST", "/prompt", b"{not json")[0] == 500, "a body that is not JSON is a 500, as in aiohttp")

        # Misbehaviour on demand.
        scenario(submit="500", count=1)
        expect(submit(t2v)[0] == 500 and submit(t2v)[0] == 200, "submit 500 once")
        scenario(submit="reset", count=1)
        expect(fails("/prompt", {"prompt": t2v}), "submit reset")
        scenario(submit="hold", delay=1, count=1)
        expect(fails("/prompt", {"prompt": t2v, "prompt_id": "held"}, timeout=0.5), "submit hold")
        expect("held" in [j["prompt_id"] for j in call("GET", "/_fake/jobs")[1]["jobs"]], "a held prompt is queued")
        scenario(poll="invalid_json", count=1)
        expect(isinstance(call("GET", "/queue")[1], bytes) and call("GET", "/queue")[0] == 200, "poll invalid_json")
        scenario(outcome="error", message="boom", count=1)
        st = wait(submit(t2v)[1]["prompt_id"])["status"]
        expect(st["status_str"] == "error" and not st["completed"], st)
        expect(st["messages"][-1][0] == "execution_error" and st["messages"][-1][1]["exception_message"] == "boom", st)
        scenario(view="404", upload="500", count=1)
        expect(call("GET", "/view?filename=clip_00001.mp4")[0] == 404 and upload("x.png", png)[0] == 500, "404, 500")
        expect(call("GET", "/view?filename=../x.mp4")[0] == 400 and call("GET", "/view?filename=no.mp4")[0] == 404, "")

        # Cancelling: a pending job deleted from the queue, a running one interrupted.
        scenario(outcome="never", count=1)
        stuck, later = submit(t2v)[1]["prompt_id"], submit(t2v)[1]["prompt_id"]
        time.sleep(0.5)
        q = call("GET", "/queue")[1]
        expect([i[1] for i in q["queue_running"]] == [stuck] and [i[1] for i in q["queue_pending"]] == [later], q)
        call("POST", "/queue", {"delete": [later]})
        call("POST", "/interrupt", {"prompt_id": later})   # not running: ignored
        call("POST", "/interrupt", {"prompt_id": stuck})
        expect(wait(stuck)["status"]["messages"][-1][0] == "execution_interrupted", "interrupted")
        expect(call("GET", "/history/" + later)[1] == {} and call("GET", "/queue")[1]["queue_pending"] == [], "deleted")
        expect(call("POST", "/_fake/reset")[0] == 200 and call("GET", "/history")[1] == {}, "reset")
        proc.terminate()
        expect(proc.wait(10) == 0, "exit status 0 on SIGTERM")
    except BaseException:
        proc.kill()
        log.seek(0)
        sys.stderr.write("".join(log.read().decode().splitlines(True)[-30:]))
        raise
    print("self-test ok")

def main():
    ap = argparse.ArgumentParser(description="A fake ComfyUI server for reelgate's tests.")
    ap.add_argument("--port", type=int, default=8188)
    ap.add_argument("--step-seconds", type=float, default=0.5)
    ap.add_argument("--output", choices=("auto", "core", "vhs"), default="auto")
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args()
    self_test() if a.self_test else serve(a.port, a.step_seconds, a.output)

if __name__ == "__main__":
    main()
