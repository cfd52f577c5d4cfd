"""records: a video's stored task record, read with mdb_dump from the LMDB
environment (as an operator would), and the settlement check: the record of
a completed task says what was really made ("output", compared with
ffprobe's numbers of the downloaded MP4) and what the provider said it used
("provider_usage")."""
import json
import os
import shutil
import subprocess
import tempfile

from harness import check, eq

MDB_DUMP = shutil.which("mdb_dump")


def _unescape(line):
    """mdb_dump -p text: a leading space, '\\hh' (two hex digits) for a byte
    that is not printable; this mdb_dump prints a backslash itself as is
    (json-c's escapes: \\/, \\", \\\\), so one not followed by two hex
    digits is a backslash."""
    out, i, s = bytearray(), 1, line
    hexdigits = "0123456789abcdef"
    while i < len(s):
        if s[i] == "\\" and len(s) >= i + 3 and s[i + 1] in hexdigits and s[i + 2] in hexdigits:
            out.append(int(s[i + 1:i + 3], 16))
            i += 3
        else:
            out.append(ord(s[i]))
            i += 1
    return bytes(out)


def stored_record(s, vid):
    """The task record of vid in the videos sub-database, as a dict."""
    check(MDB_DUMP, "mdb_dump is not installed (lmdb-utils)")
    r = subprocess.run([MDB_DUMP, "-p", "-s", "videos", os.path.join(s.data_dir, "db")],
                       capture_output=True, timeout=60)
    check(r.returncode == 0, "mdb_dump failed", r.stderr.decode(errors="replace"))
    lines = r.stdout.decode("latin-1").split("\n")
    body = lines[lines.index("HEADER=END") + 1:]
    for k, v in zip(body[0::2], body[1::2]):
        if _unescape(k) == vid.encode():
            return json.loads(_unescape(v).decode("utf-8"))
    check(False, "no stored record for %s" % vid)


def ffprobe_numbers(data):
    """frames (counted), width, height, duration and sound of MP4 bytes."""
    with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        f.write(data)
        f.flush()
        r = subprocess.run(["ffprobe", "-v", "error", "-count_packets", "-show_entries",
                            "stream=codec_type,nb_read_packets,width,height:format=duration",
                            "-of", "json", f.name], capture_output=True, timeout=60)
    check(r.returncode == 0, "ffprobe failed", r.stderr.decode(errors="replace"))
    j = json.loads(r.stdout)
    video = [x for x in j["streams"] if x["codec_type"] == "video"][0]
    return {"frames": int(video["nb_read_packets"]), "width": video["width"],
            "height": video["height"], "seconds": float(j["format"]["duration"]),
            "has_audio": any(x["codec_type"] == "audio" for x in j["streams"])}


def check_settled(rec, data, usage=None):
    """rec (a completed task's record) has output = the numbers of the MP4
    bytes data, and provider_usage = usage (absent when usage is None)."""
    eq(rec.get("status"), "completed", "record status")
    out = rec.get("output")
    check(isinstance(out, dict), "record has no output object: %r" % (out,))
    want = ffprobe_numbers(data)
    eq(sorted(out), ["frames", "has_audio", "height", "seconds", "width"], "output fields")
    for k in ("frames", "width", "height", "has_audio"):
        eq(out[k], want[k], "output.%s" % k)
    check(isinstance(out["seconds"], (int, float)) and
          abs(out["seconds"] - want["seconds"]) < 0.05,
          "output.seconds %r, ffprobe says %.3f" % (out["seconds"], want["seconds"]))
    eq(rec.get("provider_usage"), usage, "provider_usage")
    for unit, amount in (usage or {}).items():
        eq(type(rec["provider_usage"][unit]), type(amount), "type of provider_usage.%s" % unit)
