#!/usr/bin/env python3
"""Independent reference for the preset golden file (presets.json next to this script).

The nine published models' layer tables are written here as data, read from the
authors' model definitions (mb_config in github.com/xiaomi-automl/MoGA models/MoGA_*.py,
FairNAS models/FairNAS_*.py, SCARLET-NAS models/Scarlet_*.py: expansion, channels,
kernel, stride, SE), and counted with the convention of ../shared/reference/README.md:
MAdds of convolutions (Hout*Wout*Cout*Cin/groups*k^2) and FC layers (both SE FCs
included); parameters = weights + biases + 2 per BatchNorm channel.

This is a second implementation on purpose: tests/presets.rs checks that moga's Rust
counts agree with it part by part, and that this file is what the script prints.

    python3 tests/golden/generate_presets.py > tests/golden/presets.json
"""
import json

T, F = True, False

# (expansion, out_channels, kernel, stride, se) per layer; "id" = identity.
MOGA = {
    "MoGA-A": [(6, 24, 5, 2, F), (6, 24, 7, 1, F), (6, 40, 3, 2, F), (6, 40, 3, 1, T), (3, 40, 3, 1, T),
               (6, 80, 3, 2, T), (6, 80, 3, 1, F), (6, 80, 7, 1, F), (3, 80, 7, 1, T), (6, 112, 7, 1, F),
               (6, 112, 3, 1, F), (6, 160, 3, 2, F), (6, 160, 5, 1, T), (6, 160, 5, 1, T)],
    "MoGA-B": [(3, 24, 3, 2, F), (3, 24, 3, 1, F), (6, 40, 7, 2, F), (3, 40, 3, 1, F), (6, 40, 5, 1, F),
               (6, 80, 3, 2, T), (6, 80, 5, 1, T), (3, 80, 3, 1, F), (6, 80, 7, 1, T), (6, 112, 7, 1, F),
               (3, 112, 5, 1, F), (6, 160, 7, 2, T), (6, 160, 7, 1, T), (6, 160, 3, 1, T)],
    "MoGA-C": [(3, 24, 5, 2, F), (3, 24, 3, 1, F), (3, 40, 5, 2, F), (3, 40, 3, 1, F), (3, 40, 5, 1, F),
               (3, 80, 5, 2, F), (6, 80, 5, 1, T), (3, 80, 5, 1, F), (3, 80, 5, 1, F), (6, 112, 3, 1, F),
               (6, 112, 3, 1, T), (6, 160, 3, 2, T), (6, 160, 3, 1, T), (6, 160, 3, 1, T)],
}
FAIRNAS = {
    "FairNAS-A": [(3, 32, 7, 2), (3, 32, 3, 1), (3, 40, 7, 2), (6, 40, 3, 1), (6, 40, 7, 1), (3, 40, 3, 1),
                  (3, 80, 3, 2), (6, 80, 7, 1), (6, 80, 7, 1), (3, 80, 5, 1), (6, 96, 3, 1), (3, 96, 5, 1),
                  (3, 96, 5, 1), (6, 96, 3, 1), (6, 192, 3, 2), (6, 192, 7, 1), (6, 192, 3, 1), (6, 192, 7, 1),
                  (6, 320, 5, 1)],
    "FairNAS-B": [(3, 32, 5, 2), (3, 32, 3, 1), (3, 40, 5, 2), (3, 40, 3, 1), (6, 40, 3, 1), (3, 40, 5, 1),
                  (3, 80, 7, 2), (3, 80, 3, 1), (6, 80, 3, 1), (3, 80, 5, 1), (3, 96, 3, 1), (6, 96, 3, 1),
                  (3, 96, 7, 1), (3, 96, 3, 1), (6, 192, 7, 2), (6, 192, 5, 1), (6, 192, 7, 1), (6, 192, 3, 1),
                  (6, 320, 5, 1)],
    "FairNAS-C": [(3, 32, 5, 2), (3, 32, 3, 1), (3, 40, 7, 2), (3, 40, 3, 1), (3, 40, 3, 1), (3, 40, 3, 1),
                  (3, 80, 3, 2), (3, 80, 3, 1), (3, 80, 3, 1), (6, 80, 3, 1), (3, 96, 3, 1), (3, 96, 3, 1),
                  (3, 96, 3, 1), (3, 96, 3, 1), (6, 192, 7, 2), (6, 192, 7, 1), (6, 192, 3, 1), (6, 192, 3, 1),
                  (6, 320, 5, 1)],
}
SCARLET = {
    "Scarlet-A": [(3, 32, 7, 2, F), (6, 32, 5, 1, F), (3, 40, 5, 2, F), (3, 40, 7, 1, T), (6, 40, 3, 1, T),
                  (3, 40, 5, 1, T), (6, 80, 3, 2, T), (3, 80, 3, 1, F), (3, 80, 7, 1, T), (3, 80, 7, 1, F),
                  (3, 96, 5, 1, F), (3, 96, 7, 1, T), (3, 96, 3, 1, F), (3, 96, 7, 1, T), (6, 192, 3, 2, T),
                  (6, 192, 5, 1, T), (3, 192, 3, 1, T), (6, 192, 3, 1, T), (6, 320, 7, 1, T)],
    "Scarlet-B": [(3, 32, 3, 2, T), (3, 32, 5, 1, T), (3, 40, 3, 2, T), (6, 40, 7, 1, T), (3, 40, 3, 1, F),
                  (3, 40, 5, 1, F), (6, 80, 7, 2, T), (3, 80, 3, 1, T), "id", (3, 80, 5, 1, F),
                  (3, 96, 3, 1, T), (3, 96, 3, 1, T), (6, 96, 7, 1, T), (3, 96, 3, 1, T), (6, 192, 5, 2, T),
                  (6, 192, 5, 1, T), "id", (6, 192, 7, 1, T), (6, 320, 5, 1, T)],
    "Scarlet-C": [(3, 32, 5, 2, T), (3, 32, 3, 1, T), (3, 40, 5, 2, T), "id", "id",
                  (3, 40, 3, 1, F), (6, 80, 7, 2, T), (3, 80, 3, 1, T), (3, 80, 3, 1, T), (3, 80, 5, 1, F),
                  (3, 96, 7, 1, T), (3, 96, 7, 1, F), (3, 96, 3, 1, T), (3, 96, 7, 1, T), (3, 192, 3, 2, T),
                  "id", (6, 192, 3, 1, T), (6, 192, 7, 1, T), (6, 320, 5, 1, T)],
}


def conv(out_hw, cin, cout, k, groups=1, bn=True, bias=False):
    w = cout * (cin // groups) * k * k
    return out_hw * out_hw * w, w + (cout if bias else 0) + (2 * cout if bn else 0)


def count(layers, stem, sep, head, hidden):
    parts = []
    hw = 112
    parts.append(("stem",) + conv(hw, 3, stem, 3))
    m1, p1 = conv(hw, stem, stem, 3, groups=stem)
    m2, p2 = conv(hw, stem, sep, 1)
    parts.append(("separable", m1 + m2, p1 + p2))
    cin = sep
    for i, layer in enumerate(layers):
        if layer == "id":
            parts.append((f"layer {i}", 0, 0))
            continue
        t, cout, k, s, se = layer if len(layer) == 5 else layer + (F,)
        hid = cin * t
        out_hw = -(-hw // s)
        m, p = 0, 0
        for mm, pp in (conv(hw, cin, hid, 1), conv(out_hw, hid, hid, k, groups=hid), conv(out_hw, hid, cout, 1)):
            m, p = m + mm, p + pp
        if se:
            r = hid // 4
            m += hid * r + r * hid
            p += hid * r + r + r * hid + hid
        parts.append((f"layer {i}", m, p))
        cin, hw = cout, out_hw
    parts.append(("head",) + conv(hw, cin, head, 1))
    last = head
    if hidden:
        parts.append(("hidden fc",) + conv(1, head, hidden, 1, bn=False))
        last = hidden
    parts.append(("classifier",) + conv(1, last, 1000, 1, bn=False, bias=True))
    return parts


def main():
    out = []
    for name, layers in MOGA.items():
        out.append((name, count(layers, 16, 16, 960, 1280)))
    for name, layers in FAIRNAS.items():
        out.append((name, count(layers, 32, 16, 1280, None)))
    for name, layers in SCARLET.items():
        out.append((name, count(layers, 32, 16, 1280, None)))
    doc = [
        {
            "name": name,
            "madds": sum(m for _, m, _ in parts),
            "params": sum(p for _, _, p in parts),
            "parts": [{"name": n, "madds": m, "params": p} for n, m, p in parts],
        }
        for name, parts in out
    ]
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
