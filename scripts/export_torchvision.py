#!/usr/bin/env python3
"""Exports torchvision classification models to ONNX with torch.onnx.export, as a user
would: eval mode, constant folding on, the TorchScript exporter (dynamo=False; its output
keeps PyTorch's usual Constant, Flatten and Gemm nodes), a fixed 1×3×H×W input.

Weights are random (seeded; nothing is downloaded) but every BatchNormalization gets
non-trivial running statistics, so a wrong fold or a wrong activation shows in the
outputs. Writes OUT_DIR/<model>.onnx, OUT_DIR/<model>.input.pb (a seeded input, an ONNX
TensorProto as `device-runner exec --input` reads) and OUT_DIR/<model>.torch.pb
(PyTorch's own output for it).

usage: export_torchvision.py OUT_DIR [--size PX] [MODEL ...]
       (default models: mobilenet_v3_small mobilenet_v3_large)
"""
import argparse
import os
import warnings

warnings.filterwarnings("ignore")

from onnx import numpy_helper  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--size", type=int, default=224)
ap.add_argument("models", nargs="*", default=["mobilenet_v3_small", "mobilenet_v3_large"])
a = ap.parse_args()
os.makedirs(a.out, exist_ok=True)

for name in a.models:
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.randn(c, generator=g) * 0.1)
    x = torch.randn(1, 3, a.size, a.size, generator=g)
    path = os.path.join(a.out, f"{name}.onnx")
    torch.onnx.export(
        model,
        (x,),
        path,
        dynamo=False,
        do_constant_folding=True,
        input_names=["input"],
        output_names=["logits"],
        opset_version=17,
    )
    with torch.no_grad():
        y = model(x).numpy()
    for what, value in (("input", x.numpy()), ("torch", y)):
        with open(os.path.join(a.out, f"{name}.{what}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(value, what).SerializeToString())
    print(f"{name}: {path} ({os.path.getsize(path) / 1e6:.1f} MB), logits {y.shape}")
