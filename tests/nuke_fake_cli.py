"""A stand-in for ``sss-vfx video`` in the Nuke node's tests: it speaks the same command
line, progress lines, exit statuses and output files (one layers EXR per frame, 4x4,
every layer 1/K), in a fraction of a second, with an optional pause per frame so that a
test can cancel, rename or delete the node while it runs."""

import os
import stat
import sys

PROGRAM = r'''
import json, os, signal, sys, time
import numpy as np
import OpenEXR

signal.signal(signal.SIGTERM, lambda *a: sys.exit(130))
args = sys.argv[1:]
out = args[args.index("-o") + 1]
first, last = (int(v) for v in args[args.index("--frames") + 1].split("-"))
layers = int(args[args.index("--layers") + 1])
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "argv.json"), "w") as stream:
    json.dump(args, stream)
with open(os.path.join(out, "pid.part"), "w") as stream:
    stream.write(str(os.getpid()))
os.replace(os.path.join(out, "pid.part"), os.path.join(out, "pid"))
names = ["sss_layer%02d" % (k + 1) for k in range(layers)]
total = last - first + 1
for done, frame in enumerate(range(first, last + 1), 1):
    time.sleep(SLEEP)
    path = os.path.join(out, "layers.%04d.exr" % frame)
    if not os.path.exists(path):
        channels = {name + ".A": np.full((4, 4), 1.0 / layers, np.float16) for name in names}
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage,
                  "sss_layers": ",".join(names)}
        OpenEXR.File(header, channels).write(path + ".part.exr")
        os.replace(path + ".part.exr", path)
    print(json.dumps({"frame": frame, "done": done, "total": total, "fps": None,
                      "eta_s": None}), file=sys.stderr, flush=True)
'''


def fake_program(directory, sleep=0.0):
    """Write the stand-in as an executable ``sss-vfx`` in `directory`; return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "sss-vfx"
    path.write_text("#!" + sys.executable + "\n" + PROGRAM.replace("SLEEP", repr(sleep)))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def pid_of(result_dir):
    """The stand-in's process id, once it has started."""
    path = os.path.join(result_dir, "pid")
    return int(open(path).read()) if os.path.isfile(path) else None


def is_running(pid):
    """True while process `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stream:
            return stream.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
