"""Which rlimit bounds a llama.cpp smoke child, and how tight can it be? (docs/smoke.md)

For each bound (RLIMIT_DATA, RLIMIT_AS or none) and limit in GiB, a fresh process sets the
limit, loads the GGUF with the smoke child's settings, generates 8 tokens, and prints whether
it worked with its VmData (private writable), VmSize (address space), VmHWM (resident peak),
RssFile (the mapped file's resident pages) from /proc/self/status. Linux only.

    python bench/child_memory_bound.py [MODEL.gguf] [--n-ctx 2048] [--threads 2]
        [--data 1.2 1.3 1.5] [--as 1.5 1.7 2.0]

MODEL defaults to the Gemma 3 270M Q4_K_M file of the `demo` extra.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

_ONE = r"""
import json, resource, sys
req = json.loads(sys.argv[1])
if req["kind"] != "none":
    cap = int(req["gb"] * 2**30)
    res = {"DATA": resource.RLIMIT_DATA, "AS": resource.RLIMIT_AS}[req["kind"]]
    resource.setrlimit(res, (cap, cap))
def status():
    keep = ("VmData", "VmSize", "VmHWM", "RssFile")
    out = {}
    for line in open("/proc/self/status"):
        key = line.split(":")[0]
        if key in keep:
            out[key] = int(line.split()[1]) / 2**20
    return out
try:
    import llama_cpp
    llm = llama_cpp.Llama(model_path=req["model"], n_ctx=req["n_ctx"],
                          n_batch=min(512, req["n_ctx"]), n_threads=req["threads"],
                          n_threads_batch=req["threads"], verbose=False)
    llm.create_completion("The capital of France is", max_tokens=8, temperature=0)
    ok, why = True, ""
except BaseException as exc:
    ok, why = False, f"{type(exc).__name__}: {str(exc)[:80]}"
print(json.dumps({"ok": ok, "why": why, **status()}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", type=Path)
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", type=float, nargs="*", default=[1.2, 1.3, 1.5])
    parser.add_argument("--as", dest="as_", type=float, nargs="*", default=[1.5, 1.7, 2.0])
    args = parser.parse_args()
    model = args.model
    if model is None:
        from selector.smoke.discovery import demo_model_path

        model = demo_model_path()
        if model is None:
            parser.error("no MODEL given and the `demo` extra is not installed")
    cases = [("none", 0.0)] + [("DATA", g) for g in args.data] + [("AS", g) for g in args.as_]
    print(f"{model.name} ({model.stat().st_size / 2**30:.2f} GiB), n_ctx {args.n_ctx}")
    print("bound  limit GiB  result  VmData  VmSize  VmHWM  RssFile (GiB)")
    for kind, gb in cases:
        request = {
            "model": str(model),
            "kind": kind,
            "gb": gb,
            "n_ctx": args.n_ctx,
            "threads": args.threads,
        }
        out = subprocess.run(
            [sys.executable, "-c", _ONE, json.dumps(request)],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        limit = f"{gb:.2f}" if kind != "none" else "-"
        print(
            f"{kind:<5}  {limit:>9}  {'ok' if r['ok'] else 'FAIL':<6}  {r['VmData']:6.2f}  "
            f"{r['VmSize']:6.2f}  {r['VmHWM']:5.2f}  {r['RssFile']:7.2f}  {r['why']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
