"""Runs ONNX backend test cases with the onnxruntime Python package (the same library
the ort backend loads) and writes each output as a TensorProto, so tests can tell a
deviation of ONNX Runtime itself from one of moga's ort backend.

    python ort_reference.py OUT_DIR CASE_DIR...
writes OUT_DIR/<case>/<set>/output_<i>.pb, or error.txt when the run fails
"""
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper


def main():
    out_root = sys.argv[1]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    for case in sys.argv[2:]:
        sess = ort.InferenceSession(os.path.join(case, "model.onnx"), opts, providers=["CPUExecutionProvider"])
        names = [i.name for i in sess.get_inputs()]
        for s in sorted(d for d in os.listdir(case) if d.startswith("test_data_set_")):
            d = os.path.join(case, s)
            k = sorted(f for f in os.listdir(d) if f.startswith("input_"))
            k.sort(key=lambda f: int(f[6:-3]))
            feeds = {}
            for name, f in zip(names, k):
                t = onnx.TensorProto()
                with open(os.path.join(d, f), "rb") as fh:
                    t.ParseFromString(fh.read())
                feeds[name] = numpy_helper.to_array(t)
            target = os.path.join(out_root, os.path.basename(case), s)
            os.makedirs(target, exist_ok=True)
            try:
                outs = sess.run(None, feeds)
            except Exception as e:  # ONNX Runtime refusing at run time is a result too
                with open(os.path.join(target, "error.txt"), "w") as fh:
                    fh.write(str(e))
                continue
            for i, o in enumerate(outs):
                with open(os.path.join(target, f"output_{i}.pb"), "wb") as fh:
                    fh.write(numpy_helper.from_array(np.asarray(o)).SerializeToString())


if __name__ == "__main__":
    main()
