//! c10d from Rust: Gloo process groups of 2 and 3 ranks on a FileStore (threads of one
//! process, 1 thread each for libtorch), their collectives checked against sums
//! computed here, and the bridge checked against the libtorch it runs with.

use std::path::PathBuf;
use std::time::Duration;

use supernet::dist::{ProcessGroup, Rendezvous};
use tch::{Kind, Tensor};

fn store(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("moga-dist-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("store")
}

/// Runs `f(rank group)` on `size` threads, one rank each; returns their results by rank.
fn ranks<T: Send + 'static>(
    name: &str,
    size: usize,
    f: impl Fn(ProcessGroup) -> T + Send + Sync + Clone + 'static,
) -> Vec<T> {
    let path = store(name);
    let handles: Vec<_> = (0..size)
        .map(|rank| {
            let (f, path) = (f.clone(), path.clone());
            std::thread::spawn(move || {
                tch::set_num_threads(1);
                let g = ProcessGroup::gloo(
                    Rendezvous::File(&path),
                    "test",
                    rank,
                    size,
                    Duration::from_secs(60),
                )
                .unwrap();
                f(g)
            })
        })
        .collect();
    let out = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
    out
}

#[test]
fn all_reduce_broadcast_and_barrier_agree_with_sums_computed_here() {
    for size in [2usize, 3] {
        let got = ranks(&format!("collectives-{size}"), size, move |g| {
            assert_eq!(g.backend_name().unwrap(), "gloo");
            let (used, storage) = g.footprint();
            assert!(
                used > 0 && used * 4 <= storage,
                "the Gloo object wrote {used} bytes of its {storage}: the bridge's storage is too small for this libtorch"
            );
            let r = g.rank() as f64;
            // Gradient-like tensors of several shapes, one bucket.
            let mut a = Tensor::arange(6, (Kind::Float, tch::Device::Cpu)).view([2, 3]) * (r + 1.0);
            let mut b = Tensor::from_slice(&[r as f32, 10.0 * r as f32]);
            let mut c = Tensor::ones([4, 1, 2], (Kind::Float, tch::Device::Cpu)) * r;
            g.all_reduce_sum(&mut [&mut a, &mut b, &mut c]).unwrap();
            // Parameters that require grad, from rank 1.
            let mut w = (Tensor::ones([3], (Kind::Float, tch::Device::Cpu)) * (r + 5.0))
                .set_requires_grad(true);
            g.broadcast(&mut [&mut w], 1).unwrap();
            g.barrier().unwrap();
            (
                Vec::<f32>::try_from(a.view([-1])).unwrap(),
                Vec::<f32>::try_from(b).unwrap(),
                Vec::<f32>::try_from(c.view([-1])).unwrap(),
                Vec::<f32>::try_from(w.detach()).unwrap(),
            )
        });
        let ranks_sum = (0..size).map(|r| r as f32).sum::<f32>();
        let scale: f32 = (1..=size).map(|r| r as f32).sum();
        for (rank, (a, b, c, w)) in got.iter().enumerate() {
            let want_a: Vec<f32> = (0..6).map(|i| i as f32 * scale).collect();
            assert_eq!(a, &want_a, "rank {rank} of {size}");
            assert_eq!(
                b,
                &vec![ranks_sum, 10.0 * ranks_sum],
                "rank {rank} of {size}"
            );
            assert_eq!(c, &vec![ranks_sum; 8], "rank {rank} of {size}");
            assert_eq!(w, &vec![6.0; 3], "rank {rank} of {size}: rank 1's values");
        }
    }
}

#[test]
fn a_rank_that_never_comes_is_one_error_after_the_timeout() {
    let path = store("absent");
    let t = std::time::Instant::now();
    let e = ProcessGroup::gloo(
        Rendezvous::File(&path),
        "test",
        0,
        2,
        Duration::from_secs(2),
    )
    .err()
    .expect("a group of 2 with one rank cannot form");
    let m = e.to_string();
    assert!(
        m.starts_with("c10d: rank 0 of 2 joining the Gloo group: "),
        "{m}"
    );
    assert!(!m.contains('\n'), "one line: {m}");
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "bounded by the timeout"
    );
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
    let e = ProcessGroup::gloo(
        Rendezvous::File(&path),
        "test",
        2,
        2,
        Duration::from_secs(2),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("rank 2 of a world of 2"), "{e}");
}

/// The bridge declares two of libtorch's Gloo symbols by their signatures (Gloo's
/// headers are not in the wheel): it must be built against the libtorch of `.deps/`,
/// and a different one there fails here until it is rebuilt.
#[test]
fn the_bridge_was_built_against_the_libtorch_in_deps() {
    let root = std::env::var_os("LIBTORCH")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.deps/libtorch"));
    let root = if root.is_relative() {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(root)
    } else {
        root
    };
    let text = std::fs::read_to_string(root.join("version.py")).unwrap();
    let deps = text
        .lines()
        .find_map(|l| l.strip_prefix("__version__ = "))
        .unwrap()
        .trim_matches(['\'', '"']);
    let deps = deps.split('+').next().unwrap();
    assert_eq!(supernet::dist::compiled_torch_version(), deps);
}

/// NCCL: on a CUDA host built with the `nccl` feature, a 1-rank group all-reduces a
/// CUDA tensor; anywhere else, asking for it is one error line that says why.
#[test]
fn nccl_works_where_built_and_says_why_not_elsewhere() {
    use supernet::dist::Backend;
    let path = store("nccl");
    let made = ProcessGroup::new(
        Backend::Nccl,
        Rendezvous::File(&path),
        "nccl",
        0,
        1,
        Duration::from_secs(30),
    );
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
    if cfg!(feature = "nccl") && tch::Cuda::is_available() {
        let g = made.unwrap();
        assert_eq!(g.backend_name().unwrap(), "nccl");
        let mut t = Tensor::from_slice(&[1f32, 2.0]).to_device(tch::Device::Cuda(0));
        g.all_reduce_sum(&mut [&mut t]).unwrap();
        assert_eq!(
            Vec::<f32>::try_from(t.to_device(tch::Device::Cpu)).unwrap(),
            [1.0, 2.0]
        );
        return;
    }
    let err = made
        .err()
        .expect("no NCCL group without the feature and a GPU")
        .to_string();
    assert!(
        err.starts_with("c10d: rank 0 of 1 joining the NCCL group: ") && !err.contains('\n'),
        "{err}"
    );
    if !cfg!(feature = "nccl") {
        assert!(err.contains("--features moga-torch/nccl"), "{err}");
    }
    eprintln!("{err}");
}
