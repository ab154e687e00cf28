#!/usr/bin/env python3
"""Makes the venv's CUDA build of torch importable on a host without the CUDA libraries.

scripts/setup.sh installs torch with --no-deps: libtorch's CPU half is all the Rust side
(tch) needs, but `import torch` loads libtorch_cuda.so, which needs cuDNN, cuBLAS, NCCL, …
(about 2.5 GB of wheels). This writes, into OUT_DIR, one small stub library per missing
CUDA library: the same SONAME, the same symbol versions, every symbol libtorch imports
from it defined as a function that aborts. The dynamic loader is satisfied; nothing calls
them on a CPU-only run (torch.cuda.is_available() is False, as libcudart finds no device).
Used by scripts/export-torchvision.sh through LD_LIBRARY_PATH; never on a host with CUDA.

usage: torch_cpu_stubs.py TORCH_LIB_DIR OUT_DIR
"""
import glob
import os
import re
import subprocess
import sys

lib_dir, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
objects = sorted(glob.glob(os.path.join(lib_dir, "*.so*")) + glob.glob(os.path.join(lib_dir, "..", "_C*.so")))
search = [lib_dir] + glob.glob(os.path.join(lib_dir, "..", "..", "nvidia", "*", "lib"))


def run(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def present(soname):
    return any(os.path.exists(os.path.join(d, soname)) for d in search)


# soname -> {version -> set(symbols)}; unversioned CUDA-side imports go to every stub.
needed = {}
unversioned = set()
for obj in objects:
    for line in run("readelf", "-d", "-W", obj).splitlines():
        m = re.search(r"\(NEEDED\).*\[(.+)\]", line)
        if m and not present(m.group(1)) and re.match(r"lib(cu|nccl|nvrtc|nvshmem|nvjitlink)", m.group(1)):
            needed.setdefault(m.group(1), {})
    # Version requirements: "File: libcublas.so.13 ... Name: libcublas.so.13"
    current = None
    for line in run("readelf", "-V", "-W", obj).splitlines():
        m = re.search(r"File: (\S+)", line)
        if m:
            current = m.group(1)
            continue
        m = re.search(r"Name: (\S+)", line)
        if m and current and current in needed:
            needed[current].setdefault(m.group(1), set())
    for line in run("readelf", "--dyn-syms", "-W", obj).splitlines():
        f = line.split()
        if len(f) < 8 or f[6] != "UND":
            continue
        name, _, version = f[7].partition("@")
        version = re.sub(r"\s*\(\d+\)$", "", version)
        if version:
            for nodes in needed.values():
                if version in nodes:
                    nodes[version].add(name)
        elif re.match(r"(cu[A-Za-z]|nccl|nvrtc|nvshmem|nvJit)", name):
            unversioned.add(name)

for soname, nodes in sorted(needed.items()):
    symbols = sorted(set().union(*nodes.values()) | unversioned) if nodes else sorted(unversioned)
    c = os.path.join(out, soname + ".c")
    with open(c, "w") as f:
        f.write("#include <stdlib.h>\n")
        for s in symbols:
            f.write(f"void {s}(void) {{ abort(); }}\n")
    script = os.path.join(out, soname + ".map")
    with open(script, "w") as f:
        for v, syms in sorted(nodes.items()):
            body = "".join(f"  {s};\n" for s in sorted(syms))
            f.write(f"{v} {{\n global:\n{body or '  __stub_none;'}\n}};\n")
    cmd = ["gcc", "-shared", "-fPIC", "-o", os.path.join(out, soname), c, f"-Wl,-soname,{soname}"]
    if nodes:
        cmd.append(f"-Wl,--version-script={script}")
    run(*cmd)
    print(f"stub {soname}: {len(symbols)} symbols, versions {sorted(nodes) or '-'}")
