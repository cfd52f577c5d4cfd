"""What the fake provider servers (fake_*.py) share: real MP4s of a given
length made once each by ffmpeg, the reset of a connection a scenario asks
for, and the run loop (ready line, SIGTERM/SIGINT, clean-up)."""
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading


class VideoCache:
    """Real H.264 MP4s (testsrc2, 320x180) of a whole number of seconds at
    fps, made on first use and kept in a temporary directory."""

    def __init__(self, prefix, fps):
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.fps = fps
        self.lock = threading.Lock()
        self.locks = {}

    def get(self, seconds):
        with self.lock:
            lk = self.locks.setdefault(seconds, threading.Lock())
        path = os.path.join(self.dir, "%s.mp4" % seconds)
        with lk:
            if not os.path.exists(path):
                tmp = path + ".part.mp4"
                subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
                                "-i", "testsrc2=s=320x180:r=%d" % self.fps, "-t", str(seconds),
                                "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast",
                                "-movflags", "+faststart", tmp],
                               check=True, stdout=subprocess.DEVNULL, timeout=120)
                os.replace(tmp, path)
        return path

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def reset_conn(handler):
    """Ends the handler's connection with a TCP reset (no answer at all)."""
    handler.outcome = "RESET"
    handler.close_connection = True
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def run(server, port, *more, cleanup=None):
    """Prints "ready PORT" and serves until SIGTERM or SIGINT; then closes
    server and the other servers given, and calls cleanup."""
    def stop(signum, frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("ready %d" % port, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        for s in more:
            s.server_close()
        if cleanup:
            cleanup()
