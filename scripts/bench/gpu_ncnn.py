"""ncnn's Vulkan backend for scripts/bench/gpu.sh, in the bench venv (ncnn, pnnx, onnx,
onnxruntime, numpy). Subcommands, each working in one model's folder DIR (model.onnx):

  micro OUT                  write the single-operator ONNX models of the microbenchmarks
                             into OUT/<case>/model.onnx, one case name per line on stdout
  prepare DIR SEED PNNX      seeded input (DIR/input.pb, the model's declared shape), the
                             ncnn model by pnnx (fp32 weights: fp16=0) and ONNX Runtime's
                             output on that input (DIR/ort.npy)
  bench DIR WARMUP RUNS      ncnn on Vulkan, fp32 (fp16/bf16/int8 all off) then ncnn's
                             defaults: WARMUP runs, then RUNS timed runs of each, a fresh
                             extractor per run, the time around input and extract (as
                             benchncnn does); one JSON object on stdout; each config's
                             output saved once as DIR/ncnn-<config>.npy
  report TMP ROUNDS [JSON]   the tables and ratio lines from every DIR listed in TMP/models
                             and TMP/micro, and all figures as JSON
"""
import glob
import json
import math
import os
import statistics
import subprocess
import sys
import time

import numpy as np

CONFIGS = ("fp32", "default")


def tensor_pb(path, arr):
    from onnx import numpy_helper

    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(arr).SerializeToString())


def read_pb(path):
    import onnx
    from onnx import numpy_helper

    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


# --- microbenchmarks: single operators as moga's blocks use them ---------------------------
def micro(out):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    # name: (input C, H, [(op, attrs...)]) built as a chain
    def conv(name, x, cin, cout, k, stride, group, inits, nodes, act=None):
        w = (rng.standard_normal((cout, cin // group, k, k)) * math.sqrt(2.0 / (cin // group * k * k))).astype(np.float32)
        b = (rng.standard_normal(cout) * 0.1).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"{name}.w"), numpy_helper.from_array(b, f"{name}.b")]
        p = k // 2
        nodes.append(helper.make_node("Conv", [x, f"{name}.w", f"{name}.b"], [name], kernel_shape=[k, k],
                                      strides=[stride, stride], pads=[p, p, p, p], group=group))
        if act == "relu":
            nodes.append(helper.make_node("Relu", [name], [f"{name}.act"]))
            return f"{name}.act"
        if act == "hsig":
            nodes.append(helper.make_node("HardSigmoid", [name], [f"{name}.act"], alpha=1.0 / 6, beta=0.5))
            return f"{name}.act"
        return name

    cases = {
        # name: (cin, hw, builder(x, inits, nodes) -> output)
        "pw-24to144-56": (24, 56, lambda x, i, n: conv("pw", x, 24, 144, 1, 1, 1, i, n, "relu")),
        "pw-144to24-56": (144, 56, lambda x, i, n: conv("pw", x, 144, 24, 1, 1, 1, i, n)),
        "dw3-144-56": (144, 56, lambda x, i, n: conv("dw", x, 144, 144, 3, 1, 144, i, n, "relu")),
        "dw5-144-56": (144, 56, lambda x, i, n: conv("dw", x, 144, 144, 5, 1, 144, i, n, "relu")),
        "dw7-144-56": (144, 56, lambda x, i, n: conv("dw", x, 144, 144, 7, 1, 144, i, n, "relu")),
        "stem-3to16-s2-224": (3, 224, lambda x, i, n: conv("stem", x, 3, 16, 3, 2, 1, i, n, "relu")),
        # super-resolution shapes: FALSR-B's dense 3x3 convolutions at a 64x64 input
        "conv3-64to64-64": (64, 64, lambda x, i, n: conv("conv", x, 64, 64, 3, 1, 1, i, n, "relu")),
        "conv3-32to64-64": (32, 64, lambda x, i, n: conv("conv", x, 32, 64, 3, 1, 1, i, n, "relu")),
    }

    def se(x, inits, nodes):
        nodes.append(helper.make_node("GlobalAveragePool", [x], ["se.pool"]))
        r = conv("se.reduce", "se.pool", 144, 36, 1, 1, 1, inits, nodes, "relu")
        e = conv("se.expand", r, 36, 144, 1, 1, 1, inits, nodes, "hsig")
        nodes.append(helper.make_node("Mul", [x, e], ["se.out"]))
        return "se.out"

    cases["se-144-56"] = (144, 56, se)
    for name, (cin, hw, build) in cases.items():
        inits, nodes = [], []
        y = build("input", inits, nodes)
        nodes.append(helper.make_node("Identity", [y], ["output"]))
        inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, cin, hw, hw])
        outp = helper.make_tensor_value_info("output", TensorProto.FLOAT, None)
        g = helper.make_graph(nodes, name, [inp], [outp], initializer=inits)
        m = helper.make_model(g, producer_name="bench-gpu", opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 8
        m = onnx.shape_inference.infer_shapes(m)
        onnx.checker.check_model(m)
        os.makedirs(f"{out}/{name}", exist_ok=True)
        onnx.save(m, f"{out}/{name}/model.onnx")
        print(name)


# --- preparation: input, pnnx, ONNX Runtime ------------------------------------------------
def ncnn_blobs(param):
    """The input blobs (of Input layers) and the output blobs (produced, never consumed)."""
    lines = open(param).read().split("\n")
    inputs, produced, consumed = [], [], set()
    for line in lines[2:]:
        f = line.split()
        if len(f) < 4:
            continue
        nin, nout = int(f[2]), int(f[3])
        bottoms, tops = f[4:4 + nin], f[4 + nin:4 + nin + nout]
        if f[0] == "Input":
            inputs += tops
        consumed.update(bottoms)
        produced += tops
    return inputs, [b for b in produced if b not in consumed]


def prepare(d, seed, pnnx):
    import onnx
    import onnxruntime as ort

    model = onnx.load(f"{d}/model.onnx", load_external_data=False)
    (inp,) = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    shape = [dim.dim_value for dim in inp.type.tensor_type.shape.dim]
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    tensor_pb(f"{d}/input.pb", x)
    np.save(f"{d}/input.npy", x)

    # pnnx writes <stem>.ncnn.param/.bin, <stem>.pnnx.*, <stem>_ncnn.py, <stem>_pnnx.py and
    # <stem>.pnnxsim.onnx next to the model; every name given explicitly (so that another
    # pnnx release's naming cannot move them), fp16=0 to keep the weights in fp32 (pnnx
    # stores them as fp16 by default).
    dims = ",".join(map(str, shape))
    args = [pnnx, "model.onnx", f"inputshape=[{dims}]f32", "fp16=0",
            "ncnnparam=model.ncnn.param", "ncnnbin=model.ncnn.bin", "ncnnpy=model_ncnn.py",
            "pnnxparam=model.pnnx.param", "pnnxbin=model.pnnx.bin", "pnnxpy=model_pnnx.py",
            "pnnxonnx=model.pnnx.onnx"]
    with open(f"{d}/pnnx.log", "w") as log:
        rc = subprocess.call(args, cwd=d, stdout=log, stderr=subprocess.STDOUT)
    param, binf = f"{d}/model.ncnn.param", f"{d}/model.ncnn.bin"
    if not os.path.exists(param):  # an older/newer pnnx that ignores the names given
        found = sorted(glob.glob(f"{d}/*.ncnn.param"))
        if found:
            param, binf = found[0], found[0][: -len(".param")] + ".bin"
    if rc != 0 or not os.path.exists(param) or not os.path.exists(binf):
        tail = open(f"{d}/pnnx.log").read()[-3000:]
        sys.exit(f"pnnx failed on {d}/model.onnx (exit {rc}):\n{tail}")
    ins, outs = ncnn_blobs(param)
    if len(ins) != 1 or len(outs) != 1:
        sys.exit(f"{param}: expected one input and one output blob, found {ins} -> {outs}")

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(f"{d}/model.onnx", so, providers=["CPUExecutionProvider"])
    y = sess.run(None, {inp.name: x})[0]
    np.save(f"{d}/ort.npy", y)
    info = {"input": inp.name, "shape": shape, "ncnn_param": param, "ncnn_bin": binf,
            "ncnn_in": ins[0], "ncnn_out": outs[0], "ncnn_layers": int(open(param).read().split()[1])}
    json.dump(info, open(f"{d}/info.json", "w"))


# --- ncnn timing ----------------------------------------------------------------------------
def set_config(opt, config):
    opt.use_vulkan_compute = True
    if config == "fp32":
        for a in ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic", "use_bf16_storage", "use_bf16_packed",
                  "use_int8_inference", "use_int8_packed", "use_int8_storage", "use_int8_arithmetic"):
            if hasattr(opt, a):
                setattr(opt, a, False)


def bench(d, warmup, runs):
    import ncnn

    if ncnn.get_gpu_count() < 1:
        sys.exit("ncnn sees no Vulkan device")
    info = json.load(open(f"{d}/info.json"))
    x = np.load(f"{d}/input.npy")
    xin = ncnn.Mat(np.ascontiguousarray(x.reshape(x.shape[1:]) if x.shape[0] == 1 else x))
    out = {"gpu": ncnn.get_gpu_info(ncnn.get_default_gpu_index()).device_name()}
    for config in CONFIGS:
        net = ncnn.Net()
        set_config(net.opt, config)
        t0 = time.perf_counter()
        if net.load_param(info["ncnn_param"]) != 0 or net.load_model(info["ncnn_bin"]) != 0:
            sys.exit(f"ncnn could not load {info['ncnn_param']}")
        load_ms = (time.perf_counter() - t0) * 1e3
        times, y = [], None
        for i in range(warmup + runs):
            t0 = time.perf_counter()
            ex = net.create_extractor()
            ex.input(info["ncnn_in"], xin)
            ret, mat = ex.extract(info["ncnn_out"])
            t1 = time.perf_counter()
            if ret != 0:
                sys.exit(f"ncnn extract failed ({ret}) on {d}")
            if i >= warmup:
                times.append((t1 - t0) * 1e3)
            if i == warmup + runs - 1:
                y = np.array(mat).copy()
            del ex
        if not os.path.exists(f"{d}/ncnn-{config}.npy"):
            np.save(f"{d}/ncnn-{config}.npy", y)
        out[config] = {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times),
                       "runs": runs, "warmup": warmup, "load_ms": load_ms}
        net.clear()
        del net
    print(json.dumps(out))


# --- report ---------------------------------------------------------------------------------
def rel_diff(ref, y):
    ref, y = np.asarray(ref, np.float64).ravel(), np.asarray(y, np.float64).ravel()
    if ref.shape != y.shape:
        return float("nan")
    return float(np.max(np.abs(ref - y)) / max(np.max(np.abs(ref)), 1e-30))


def collect(tmp, name, rounds):
    d = f"{tmp}/m/{name}"
    moga, fp32, dflt, moga16, mogagl = [], [], [], [], []
    moga_gpu, pairs = [], {c: [] for c in CONFIGS}  # pairs: (moga, ncnn) of one round
    pairs16 = []  # (moga f16, ncnn default) of one round
    pairsgl = []  # (moga GLES, moga Vulkan) of one round
    for r in range(1, rounds + 1):
        mm = m16 = mgl = None
        try:
            m = json.load(open(f"{d}/mogagl-{r}.json"))
            if "wall_median_ms" in m:
                mgl = m["wall_median_ms"]
                mogagl.append(mgl)
        except (OSError, ValueError):
            pass
        try:
            m = json.load(open(f"{d}/moga16-{r}.json"))
            if "wall_median_ms" in m:
                m16 = m["wall_median_ms"]
                moga16.append(m16)
        except (OSError, ValueError):
            pass
        try:
            m = json.load(open(f"{d}/moga-{r}.json"))
            if "wall_median_ms" in m:
                mm = m["wall_median_ms"]
                moga.append(mm)
                if m.get("gpu_median_ms") is not None:
                    moga_gpu.append(m["gpu_median_ms"])
                if mgl is not None:
                    pairsgl.append((mgl, mm))
        except (OSError, ValueError):
            pass
        try:
            n = json.load(open(f"{d}/ncnn-{r}.json"))
            fp32.append(n["fp32"]["median_ms"])
            dflt.append(n["default"]["median_ms"])
            if mm is not None:
                for c in CONFIGS:
                    pairs[c].append((mm, n[c]["median_ms"]))
            if m16 is not None:
                pairs16.append((m16, n["default"]["median_ms"]))
        except (OSError, ValueError, KeyError):
            pass
    ort_y = np.load(f"{d}/ort.npy")
    diffs = {}
    if os.path.exists(f"{d}/moga-out/output_0.pb"):
        diffs["moga_wgpu"] = rel_diff(ort_y, read_pb(f"{d}/moga-out/output_0.pb"))
    if os.path.exists(f"{d}/mogagl-out/output_0.pb"):
        diffs["moga_wgpu_gles"] = rel_diff(ort_y, read_pb(f"{d}/mogagl-out/output_0.pb"))
    if os.path.exists(f"{d}/moga16-out/output_0.pb"):
        diffs["moga_wgpu_f16"] = rel_diff(ort_y, read_pb(f"{d}/moga16-out/output_0.pb"))
    for c in CONFIGS:
        if os.path.exists(f"{d}/ncnn-{c}.npy"):
            diffs[f"ncnn_{c}"] = rel_diff(ort_y, np.load(f"{d}/ncnn-{c}.npy"))

    def stat(v):
        return {"median_ms": statistics.median(v), "min_ms": min(v), "max_ms": max(v), "rounds_ms": v} if v else None

    rec = {"name": name, "moga_wgpu": stat(moga), "moga_wgpu_gpu_timestamps": stat(moga_gpu),
           "moga_wgpu_f16": stat(moga16), "moga_wgpu_gles": stat(mogagl),
           "ncnn_fp32": stat(fp32), "ncnn_default": stat(dflt), "diff_vs_ort": diffs}
    if pairsgl:
        rr = [g / v for g, v in pairsgl]
        rec["ratio_gles_vulkan"] = statistics.median(rr)
        rec["ratio_gles_vulkan_rounds"] = rr
    if moga16 and rec["ncnn_default"]:
        rec["ratio_moga_f16_ncnn_default"] = rec["moga_wgpu_f16"]["median_ms"] / rec["ncnn_default"]["median_ms"]
        rec["ratio_moga_f16_ncnn_default_rounds"] = [a / b for a, b in pairs16]
    for c in CONFIGS:
        if moga and rec[f"ncnn_{c}"]:
            rec[f"ratio_moga_ncnn_{c}"] = rec["moga_wgpu"]["median_ms"] / rec[f"ncnn_{c}"]["median_ms"]
            # per round: moga and ncnn ran back to back, so drift cancels in these
            per = [a / b for a, b in pairs[c]]
            rec[f"ratio_moga_ncnn_{c}_rounds"] = per
    return rec


def report(tmp, rounds, json_out=None):
    meta = json.load(open(f"{tmp}/meta.json"))
    gm = lambda xs: math.exp(sum(map(math.log, xs)) / len(xs)) if xs else float("nan")

    def ms(s):
        return f"{s['median_ms']:9.2f} ({s['min_ms']:.2f}-{s['max_ms']:.2f})" if s else f"{'failed':>9}"

    def num(v, fmt):
        return format(v, fmt) if v is not None and not (isinstance(v, float) and math.isnan(v)) else "-"

    out = {"meta": meta, "models": [], "micro": []}
    for kind in ("models", "micro"):
        names = [l.strip() for l in open(f"{tmp}/{kind}")] if os.path.exists(f"{tmp}/{kind}") else []
        names = [n for n in names if n]
        if not names:
            continue
        recs = [collect(tmp, n, rounds) for n in names]
        out[kind] = recs
        title = "whole models" if kind == "models" else "microbenchmarks (single operators)"
        print(f"\n== {title}: median ms per run (min-max of the {rounds} round medians); "
              f"output diff = max|y - ort| / max|ort|")
        print(f"{'model':20} {'moga wgpu':>24} {'ncnn fp32':>24} {'ncnn default':>24} {'m/fp32':>7} {'m/def':>7}"
              f" {'diff moga':>10} {'diff fp32':>10} {'diff def':>10}")
        for r in recs:
            d = r["diff_vs_ort"]
            print(f"{r['name']:20} {ms(r['moga_wgpu']):>24} {ms(r['ncnn_fp32']):>24} {ms(r['ncnn_default']):>24}"
                  f" {num(r.get('ratio_moga_ncnn_fp32'), '7.2f'):>7} {num(r.get('ratio_moga_ncnn_default'), '7.2f'):>7}"
                  f" {num(d.get('moga_wgpu'), '10.2e'):>10} {num(d.get('ncnn_fp32'), '10.2e'):>10} {num(d.get('ncnn_default'), '10.2e'):>10}")
        ok = [r["ratio_moga_ncnn_fp32"] for r in recs if "ratio_moga_ncnn_fp32" in r]
        okd = [r["ratio_moga_ncnn_default"] for r in recs if "ratio_moga_ncnn_default" in r]
        print(f"{'geomean':20} {'':>24} {'':>24} {'':>24} {num(gm(ok), '7.2f'):>7} {num(gm(okd), '7.2f'):>7}")
        if any(r.get("moga_wgpu_f16") for r in recs):
            print(f"\n{'half precision':20} {'moga wgpu f16':>24} {'ncnn default':>24} {'m16/def':>7} {'diff m16':>10}")
            for r in recs:
                print(f"{r['name']:20} {ms(r.get('moga_wgpu_f16')):>24} {ms(r['ncnn_default']):>24}"
                      f" {num(r.get('ratio_moga_f16_ncnn_default'), '7.2f'):>7}"
                      f" {num(r['diff_vs_ort'].get('moga_wgpu_f16'), '10.2e'):>10}")
            ok16 = [r["ratio_moga_f16_ncnn_default"] for r in recs if "ratio_moga_f16_ncnn_default" in r]
            print(f"{'geomean':20} {'':>24} {'':>24} {num(gm(ok16), '7.2f'):>7}")
        if any(r.get("moga_wgpu_gles") for r in recs):
            print(f"\n{'GLES beside Vulkan':20} {'moga wgpu GLES':>24} {'moga wgpu Vulkan':>24} {'gl/vk':>7} {'diff gles':>10}")
            for r in recs:
                print(f"{r['name']:20} {ms(r.get('moga_wgpu_gles')):>24} {ms(r['moga_wgpu']):>24}"
                      f" {num(r.get('ratio_gles_vulkan'), '7.2f'):>7}"
                      f" {num(r['diff_vs_ort'].get('moga_wgpu_gles'), '10.2e'):>10}")
            okgl = [r["ratio_gles_vulkan"] for r in recs if "ratio_gles_vulkan" in r]
            print(f"{'geomean':20} {'':>24} {'':>24} {num(gm(okgl), '7.2f'):>7}")
    print(f"\nmoga wgpu: {meta.get('moga_device', '?')}; ncnn {meta.get('ncnn_version', '?')}: {meta.get('ncnn_gpu', '?')}")
    for kind in ("models", "micro"):
        for r in out[kind]:
            if "ratio_moga_ncnn_fp32" in r:
                rr = r["ratio_moga_ncnn_fp32_rounds"] or [float("nan")]
                print(f"ratio moga-wgpu / ncnn-vulkan-fp32: {r['name']} {r['ratio_moga_ncnn_fp32']:.2f}x "
                      f"(rounds {min(rr):.2f}-{max(rr):.2f}; vs ncnn default {r['ratio_moga_ncnn_default']:.2f}x)")
            else:
                print(f"ratio moga-wgpu / ncnn-vulkan-fp32: {r['name']} failed")
            if "ratio_gles_vulkan" in r:
                rr = r["ratio_gles_vulkan_rounds"]
                print(f"ratio moga-wgpu-gles / moga-wgpu-vulkan: {r['name']} "
                      f"{r['ratio_gles_vulkan']:.2f}x (rounds {min(rr):.2f}-{max(rr):.2f})")
            if "ratio_moga_f16_ncnn_default" in r:
                rr = r["ratio_moga_f16_ncnn_default_rounds"] or [float("nan")]
                print(f"ratio moga-wgpu-f16 / ncnn-vulkan-default: {r['name']} "
                      f"{r['ratio_moga_f16_ncnn_default']:.2f}x (rounds {min(rr):.2f}-{max(rr):.2f})")
    if json_out:
        with open(json_out, "w") as f:
            json.dump(out, f, indent=1)
        print(f"wrote {json_out}", file=sys.stderr)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "micro":
        micro(args[0])
    elif cmd == "prepare":
        prepare(args[0], int(args[1]), args[2])
    elif cmd == "bench":
        bench(args[0], int(args[1]), int(args[2]))
    elif cmd == "report":
        report(args[0], int(args[1]), args[2] if len(args) > 2 and args[2] else None)
    else:
        sys.exit(f"gpu_ncnn.py: unknown subcommand {cmd}")
