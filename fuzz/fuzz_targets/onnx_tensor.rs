//! Tensor files (`.pb` inputs and outputs): decoded into tensors or refused; a decoded
//! tensor's element count matches its shape.
#![no_main]

use device_runner::onnx::Tensor;
use device_runner::onnx::proto::TensorProto;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = TensorProto::decode(data)
        && let Ok(t) = Tensor::from_proto(&p)
    {
        let n: usize = t.shape.iter().product();
        assert_eq!(t.numel(), n);
        let back = Tensor::from_proto(&t.to_proto("x")).expect("a tensor re-reads");
        assert_eq!(back.shape, t.shape);
    }
});
