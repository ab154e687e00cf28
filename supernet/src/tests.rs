//! The supernet's defining properties, on the bundled digits at 32×32.

use std::collections::HashMap;
use std::path::PathBuf;

use lookup_tables::{Arch, Choice, SpaceId, SplitMix64};
use tch::{Device, Kind, Tensor};

use super::DataSpec;
use super::eval::{CACHE_FILE, Evaluator};
use super::net::{Mode, Owner};
use super::train::{Strategy, TrainConfig, Trainer, WEIGHTS_FILE};

/// libtorch's generator (initial weights, dropout) is one per process: tests that train
/// take turns, or a parallel test's draws would make runs unrepeatable.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static TORCH: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TORCH.lock().unwrap_or_else(|e| e.into_inner())
}

/// A checkpoint folder, removed when the test ends, passed or failed: a checkpoint is
/// tens of megabytes and the suite writes several.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let d = std::env::temp_dir().join(format!("moga-supernet-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    Scratch(d)
}

fn config(space: SpaceId, strategy: Strategy, scarlet_let: bool) -> TrainConfig {
    TrainConfig {
        space,
        strategy,
        scarlet_let,
        arch: None,
        data: DataSpec::Digits,
        resolution: 32,
        epochs: 1,
        batch: 8,
        // Enough for `drive`'s steps to run before the cosine schedule reaches zero.
        max_steps: Some(8),
        lr: 0.05,
        momentum: 0.9,
        weight_decay: 4e-5,
        grad_clip: 0.0,
        warmup_steps: 0,
        sum_shared_gradients: false,
        entangled: false,
        zero_init_residual: false,
        augment: true,
        seed: 7,
    }
}

/// Copies of every trainable choice parameter, by index.
fn snapshot(t: &Trainer) -> HashMap<usize, Tensor> {
    t.net
        .params
        .iter()
        .enumerate()
        .filter(|(_, p)| p.trainable && p.owner != Owner::Shared)
        .map(|(i, p)| (i, p.tensor.detach().copy()))
        .collect()
}

/// Which trainable choice parameters changed since `before`.
fn changed(t: &Trainer, before: &HashMap<usize, Tensor>) -> HashMap<usize, bool> {
    before
        .iter()
        .map(|(&i, b)| (i, !t.net.params[i].tensor.detach().equal(b)))
        .collect()
}

/// Runs `steps` steps by hand, checking `check` after each.
fn drive(
    t: &mut Trainer,
    steps: usize,
    mut check: impl FnMut(&Trainer, &[Vec<usize>], &HashMap<usize, bool>),
) {
    let mut rng = SplitMix64::new(11);
    let idx = Tensor::arange(t.config.batch as i64, (Kind::Int64, Device::Cpu));
    for _ in 0..steps {
        let (x, y) = t.data.train_batch(&idx, &mut rng, Device::Cpu);
        let paths = t.draw_paths(&mut rng);
        let before = snapshot(t);
        let (loss, _, _) = t.step(&x, &y, &paths).unwrap();
        assert!(loss.is_finite());
        check(t, &paths, &changed(t, &before));
    }
}

#[test]
fn fair_training_updates_every_choice_of_every_layer_at_every_step() {
    fair_updates_every_choice(false);
}

#[test]
fn fair_training_with_entangled_weights_updates_every_choice_and_every_master() {
    fair_updates_every_choice(true);
}

fn fair_updates_every_choice(entangled: bool) {
    let _torch = serial();
    let dir = scratch(&format!("fair-{entangled}"));
    let mut cfg = config(SpaceId::Moga, Strategy::Fair, false);
    cfg.entangled = entangled;
    let mut t = Trainer::new(cfg, Device::Cpu, &dir).unwrap();
    let masters = t
        .net
        .params
        .iter()
        .filter(|p| matches!(p.owner, Owner::Layer { .. }))
        .count();
    assert_eq!(
        masters,
        if entangled {
            3 * t.net.choices.len()
        } else {
            0
        }
    );
    let mut step = 0u64;
    drive(&mut t, 3, |t, paths, changed| {
        step += 1;
        // m = 12 models, and each layer's column is a permutation of its choices.
        assert_eq!(paths.len(), 12);
        for l in 0..t.net.choices.len() {
            let mut col: Vec<usize> = paths.iter().map(|p| p[l]).collect();
            col.sort();
            assert_eq!(col, (0..12).collect::<Vec<_>>(), "layer {l}");
        }
        assert!(
            t.state.updates.iter().flatten().all(|&u| u == step),
            "{:?}",
            t.state.updates
        );
        assert!(t.state.activations.iter().flatten().all(|&a| a == step));
        // The counters are not taking our word for it: every parameter moved.
        for (i, moved) in changed {
            assert!(
                moved,
                "step {step}: {} was not updated",
                t.net.params[*i].name
            );
        }
    });
}

#[test]
fn fair_training_stays_fair_where_layers_hold_different_numbers_of_choices() {
    let _torch = serial();
    // ScarletNAS: identity only where a layer keeps its shape, so 12 or 13 choices.
    let dir = scratch("scarlet-fair");
    let mut t = Trainer::new(
        config(SpaceId::Scarlet, Strategy::Fair, true),
        Device::Cpu,
        &dir,
    )
    .unwrap();
    let sizes: Vec<usize> = t.net.choices.iter().map(Vec::len).collect();
    assert!(sizes.contains(&12) && sizes.contains(&13), "{sizes:?}");
    let mut step = 0u64;
    drive(&mut t, 3, |t, paths, changed| {
        step += 1;
        assert_eq!(paths.len(), 13);
        assert!(t.state.updates.iter().flatten().all(|&u| u == step));
        for (l, acts) in t.state.activations.iter().enumerate() {
            let (lo, hi) = (acts.iter().min().unwrap(), acts.iter().max().unwrap());
            assert!(*lo >= step && hi - lo <= 1, "layer {l}: {acts:?}");
        }
        assert!(changed.values().all(|&c| c));
    });
}

#[test]
fn spos_updates_only_the_sampled_path() {
    spos_updates_only_its_path(false);
}

#[test]
fn spos_with_entangled_weights_updates_only_the_sampled_path() {
    spos_updates_only_its_path(true);
}

fn spos_updates_only_its_path(entangled: bool) {
    let _torch = serial();
    let dir = scratch(&format!("spos-{entangled}"));
    let mut cfg = config(SpaceId::Fairnas, Strategy::Spos, false);
    cfg.entangled = entangled;
    let mut t = Trainer::new(cfg, Device::Cpu, &dir).unwrap();
    let mut step = 0u64;
    drive(&mut t, 3, |t, paths, changed| {
        step += 1;
        assert_eq!(paths.len(), 1);
        for (l, u) in t.state.updates.iter().enumerate() {
            assert_eq!(u.iter().sum::<u64>(), step, "layer {l}");
        }
        for (i, moved) in changed {
            let p = &t.net.params[*i];
            assert_eq!(*moved, t.net.on_path(p.owner, &paths[0]), "{}", p.name);
        }
    });
}

#[test]
fn a_trained_let_folds_into_one_linear_map_and_composes_with_the_next_layer() {
    let _torch = serial();
    let dir = scratch("let");
    let mut t = Trainer::new(
        config(SpaceId::Scarlet, Strategy::Fair, true),
        Device::Cpu,
        &dir,
    )
    .unwrap();
    drive(&mut t, 2, |_, _, _| {});
    let net = &t.net;
    // The first layer with an identity choice whose next layer exists.
    let (l, c) = (0..net.choices.len() - 1)
        .find_map(|l| {
            net.choices[l]
                .iter()
                .position(|x| *x == Choice::Identity)
                .map(|c| (l, c))
        })
        .expect("scarlet has identity choices");
    let m = net.let_module(l, c).unwrap();
    // Training moved its statistics away from the identity's (its input is a
    // BatchNorm's output, zero-mean, so the variance is what shows it).
    assert!((&m.bn.var - 1.0).abs().max().double_value(&[]) > 1e-3);
    let (w, b) = m.folded_linear();
    let cin = w.size()[1];
    let hw = net.space.layers[l].input_hw as i64;
    let x = Tensor::randn([2, cin, hw, hw], (Kind::Float, Device::Cpu));
    let _g = tch::no_grad_guard();
    let y = m.forward(&x, Mode::EVAL);
    let wk = w.view([w.size()[0], cin, 1, 1]);
    let folded = x.conv2d(&wk, Some(&b), [1, 1], [0, 0], [1, 1], 1);
    let err = (&y - &folded).abs().max().double_value(&[]);
    assert!(err < 1e-4, "LET vs its folded map: max error {err}");
    // With the next layer's expansion (linear before its BatchNorm): one map.
    let e = net.expand_module(l + 1, 0).expect("choice 0 is an MBConv");
    let ew = e.weight();
    let we = ew.view([ew.size()[0], ew.size()[1]]);
    let direct = y.conv2d(&ew, None::<Tensor>, [1, 1], [0, 0], [1, 1], 1);
    let wc = we.matmul(&w);
    let bc = we.matmul(&b.unsqueeze(1)).squeeze_dim(1);
    let one = x.conv2d(
        &wc.view([wc.size()[0], cin, 1, 1]),
        Some(&bc),
        [1, 1],
        [0, 0],
        [1, 1],
        1,
    );
    let err = (&direct - &one).abs().max().double_value(&[]) / direct.abs().max().double_value(&[]);
    assert!(
        err < 1e-4,
        "LET then expansion vs one map: relative error {err}"
    );
}

#[test]
fn resuming_from_a_checkpoint_continues_the_same_run() {
    let _torch = serial();
    let mut cfg = config(SpaceId::Fairnas, Strategy::Fair, false);
    cfg.epochs = 2;
    cfg.max_steps = Some(2);
    let (a, b) = (scratch("resume-a"), scratch("resume-b"));
    let mut straight = Trainer::new(cfg.clone(), Device::Cpu, &a).unwrap();
    while !straight.finished() {
        straight.train_epoch(&mut |_| {}).unwrap();
    }
    let mut first = Trainer::new(cfg.clone(), Device::Cpu, &b).unwrap();
    first.train_epoch(&mut |_| {}).unwrap();
    drop(first);
    // A second `new` on the same folder is refused: it would overwrite the run.
    let err = Trainer::new(cfg, Device::Cpu, &b)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("--resume"), "{err}");
    let mut resumed = Trainer::resume(&b, Device::Cpu, None).unwrap();
    assert_eq!(resumed.state.epochs_done, 1);
    resumed.train_epoch(&mut |_| {}).unwrap();
    assert!(resumed.finished());
    assert_eq!(resumed.state.updates, straight.state.updates);
    assert_eq!(resumed.state.steps, 4);
    let read = |d: &std::path::Path| -> HashMap<String, Tensor> {
        Tensor::read_safetensors(d.join(WEIGHTS_FILE))
            .unwrap()
            .into_iter()
            .collect()
    };
    let (wa, wb) = (read(&a), read(&b));
    assert_eq!(wa.len(), wb.len());
    for (name, ta) in &wa {
        let diff = (ta - &wb[name]).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "{name}: {diff}");
    }

    // The checkpoint is an accuracy oracle, cached per architecture.
    let arch = Arch::parse("fairnas-a").unwrap();
    let mut ev = Evaluator::open(&a, None, Device::Cpu).unwrap();
    let first = ev.evaluate(&arch).unwrap();
    assert!(!first.cached && (0.0..=100.0).contains(&first.accuracy));
    let again = Evaluator::open(&a, None, Device::Cpu)
        .unwrap()
        .evaluate(&arch)
        .unwrap();
    assert!(again.cached);
    assert_eq!(again.accuracy, first.accuracy);
    // A recalibrated, uncached evaluation repeats the figure.
    let fresh = Evaluator::open(&a, None, Device::Cpu)
        .unwrap()
        .without_cache()
        .evaluate(&arch)
        .unwrap();
    assert!((fresh.accuracy - first.accuracy).abs() < 1e-9);
    // Another space's architecture is refused by name.
    let err = ev
        .evaluate(&Arch::parse("moga-a").unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("space"), "{err}");
    // A damaged cache line is reported with its line number.
    std::fs::write(a.join(CACHE_FILE), "{\"arch\":1}\n{}\n").unwrap();
    let err = Evaluator::open(&a, None, Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains(CACHE_FILE) && err.contains("line 1"), "{err}");
    // Weights of another space are refused, naming the file and a tensor.
    let mut moga = super::Supernet::new(
        &lookup_tables::Space::with_options(
            SpaceId::Moga,
            lookup_tables::SpaceOptions {
                resolution: 32,
                classes: 10,
            },
        )
        .unwrap(),
        super::NetOptions::default(),
        None,
        Device::Cpu,
    )
    .unwrap();
    let err = moga.load(&a.join(WEIGHTS_FILE)).err().unwrap().to_string();
    assert!(
        err.contains(WEIGHTS_FILE) && err.contains("tensor"),
        "{err}"
    );
}

#[test]
fn a_standalone_network_learns_the_digits() {
    let _torch = serial();
    let dir = scratch("standalone");
    let mut cfg = config(SpaceId::Fairnas, Strategy::Standalone, false);
    cfg.arch = Some(Arch::parse("fairnas-c").unwrap());
    cfg.batch = 32;
    cfg.max_steps = Some(30);
    cfg.epochs = 3;
    cfg.lr = 0.02;
    let mut t = Trainer::new(cfg, Device::Cpu, &dir).unwrap();
    assert!(t.net.is_standalone());
    let mut last = None;
    while !t.finished() {
        last = Some(t.train_epoch(&mut |_| {}).unwrap());
    }
    let acc = last.unwrap().val_accuracy.unwrap();
    // Ten classes: chance is 10%.
    assert!(acc > 50.0, "validation accuracy {acc}%");
}

/// An entangled supernet's path is exactly the stand-alone network of its architecture:
/// the sliced weights, loaded into that network by their exported names, give the same
/// logits; the parameter count is the stand-alone one; shortcut blocks start as the
/// identity with `zero_init_residual`.
#[test]
fn an_entangled_path_is_the_standalone_network_of_its_architecture() {
    let _torch = serial();
    let space = lookup_tables::Space::with_options(
        SpaceId::Moga,
        lookup_tables::SpaceOptions {
            resolution: 32,
            classes: 10,
        },
    )
    .unwrap();
    let options = super::NetOptions {
        let_identity: false,
        entangled: true,
        zero_init_residual: true,
    };
    tch::manual_seed(3);
    let net = super::Supernet::new(&space, options, None, Device::Cpu).unwrap();
    // Every shortcut block's last BatchNorm starts at zero; the others at one.
    for t in net.path_tensors(&vec![0; net.choices.len()]).unwrap() {
        if t.name.ends_with("project.bn.weight") {
            let l: usize = t.name.split('.').nth(1).unwrap().parse().unwrap();
            let want = if space.layers[l].keeps_shape() {
                0.0
            } else {
                1.0
            };
            assert_eq!(
                t.tensor.mean(Kind::Float).double_value(&[]),
                want,
                "{}",
                t.name
            );
        }
    }
    let mut rng = SplitMix64::new(5);
    let x = Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu));
    for _ in 0..3 {
        let path: Vec<usize> = net
            .choices
            .iter()
            .map(|c| rng.below(c.len() as u64) as usize)
            .collect();
        let arch = net.arch_of(&path);
        // Non-trivial BatchNorm statistics and gammas, so slicing errors would show.
        let _g = tch::no_grad_guard();
        for p in net.params.iter().filter(|p| p.owner != Owner::Shared) {
            if !p.name.contains("master") {
                let _ = p.tensor.shallow_clone().uniform_(0.5, 1.5);
            }
        }
        let sliced: HashMap<String, Tensor> = net
            .path_tensors(&path)
            .unwrap()
            .into_iter()
            .map(|t| (t.name, t.tensor))
            .collect();
        let alone = super::Supernet::new(&space, options, Some(&arch), Device::Cpu).unwrap();
        assert!(!alone.options.entangled);
        let mut loaded = 0;
        for p in &alone.params {
            let name = match p.owner {
                Owner::Shared => p.name.clone(),
                _ => {
                    let parts: Vec<&str> = p.name.splitn(4, '.').collect();
                    format!("{}.{}.{}", parts[0], parts[1], parts[3])
                }
            };
            let src = &sliced[&name];
            assert_eq!(src.size(), p.tensor.size(), "{name}");
            p.tensor.shallow_clone().copy_(src);
            loaded += 1;
        }
        assert_eq!(loaded, sliced.len());
        assert_eq!(
            net.path_params(&path).unwrap(),
            alone.trainable_params(),
            "{}",
            arch.encode()
        );
        let a = net.forward(&x, &path, Mode::EVAL);
        let b = alone.forward(&x, &vec![0; path.len()], Mode::EVAL);
        let err = (&a - &b).abs().max().double_value(&[]);
        assert!(err < 1e-5, "{}: max difference {err}", arch.encode());
    }
}

/// Two ranks as threads on a FileStore (1 libtorch thread each), each given its trainer
/// by `make(rank, group)`; returns what `run` gives back per rank.
fn two_ranks<T: Send + 'static>(
    name: &str,
    make: impl Fn(usize, super::dist::ProcessGroup) -> Trainer + Send + Sync + Clone + 'static,
    run: impl Fn(Trainer) -> T + Send + Sync + Clone + 'static,
) -> Vec<T> {
    use super::dist::{ProcessGroup, Rendezvous};
    let dir = scratch(name);
    std::fs::create_dir_all(&*dir).unwrap();
    let store = dir.join("store");
    let handles: Vec<_> = (0..2)
        .map(|rank| {
            let (store, make, run) = (store.clone(), make.clone(), run.clone());
            std::thread::spawn(move || {
                let g = ProcessGroup::gloo(
                    Rendezvous::File(&store),
                    "train",
                    rank,
                    2,
                    std::time::Duration::from_secs(60),
                )
                .unwrap();
                run(make(rank, g))
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// A trainer made under a lock: two ranks' threads drawing initial weights from
/// libtorch's one generator at once would each get a mix of the other's draws.
fn initialised(make: impl FnOnce() -> super::Result<Trainer>) -> Trainer {
    static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _l = INIT.lock().unwrap_or_else(|e| e.into_inner());
    make().unwrap()
}

/// Named tensors.
type Weights = Vec<(String, Tensor)>;

/// Every trainable tensor of a network, by name, on the CPU.
fn trainable(t: &Trainer) -> Weights {
    t.net
        .params
        .iter()
        .filter(|p| p.trainable)
        .map(|p| (p.name.clone(), p.tensor.detach().copy()))
        .collect()
}

/// The reference of data parallelism on two ranks: one process runs the epoch's own
/// batches and paths, each batch as two halves through the same paths, gradients
/// averaged. Returns the initial and final trainable weights and the state.
fn one_process_both_halves(cfg: &TrainConfig) -> (Weights, Weights, super::train::TrainState) {
    let dir = scratch("dp-reference");
    let mut t = Trainer::new(cfg.clone(), Device::Cpu, &dir).unwrap();
    t.net.without_dropout();
    t.net.in_double();
    let initial = trainable(&t);
    let seed = cfg.seed ^ 1u64.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut rng = SplitMix64::new(seed);
    let batches = t.data.batches(&t.data.train, cfg.batch, &mut rng);
    let h = cfg.batch as i64 / 2;
    for idx in batches.iter().take(cfg.max_steps.unwrap()) {
        let halves: Vec<(Tensor, Tensor)> = (0..2)
            .map(|r| {
                t.data
                    .plain_batch(&t.data.train, &idx.narrow(0, r * h, h), Device::Cpu)
            })
            .collect();
        let paths = t.draw_paths(&mut rng);
        t.zero_grads();
        for (x, y) in &halves {
            t.accumulate(x, y, &paths, 0.5);
        }
        t.apply(&paths, 1.0);
    }
    (initial, trainable(&t), t.state.clone())
}

/// Data parallelism is the single-process step: 3 fair steps of 2 ranks (each a half of
/// every batch, gradients all-reduced) leave the weights one process gets by running
/// both halves through the same paths and averaging their gradients. In double
/// precision, within 1e-8 (measured 7.7e-10; the reference itself moves 1.5e-9 when
/// it adds its halves in the other order). In float, three steps of BatchNorm over
/// 4-image halves amplify the rounding of either order to 1e-2, ranks or not, so no
/// float tolerance tells a bug from rounding. (Not the single-process step on the whole
/// batch, whose BatchNorm normalises over all of it where each rank normalises over its
/// half.)
#[test]
fn two_ranks_take_the_steps_of_one_process_averaging_both_halves() {
    let _torch = serial();
    tch::set_num_threads(1);
    let mut cfg = config(SpaceId::Fairnas, Strategy::Fair, false);
    cfg.augment = false;
    cfg.max_steps = Some(3);
    cfg.batch = 8;
    cfg.entangled = true;
    cfg.grad_clip = 5.0;

    let (initial, reference, ref_state) = one_process_both_halves(&cfg);

    let cfg2 = cfg.clone();
    let ranks = two_ranks(
        "dp-ranks",
        move |rank, g| {
            let dir =
                std::env::temp_dir().join(format!("moga-supernet-dp-rank-{}", std::process::id()));
            let mut t = initialised(|| Trainer::new(cfg2.clone(), Device::Cpu, &dir));
            t.net.without_dropout();
            t.net.in_double();
            t.join(g).unwrap();
            assert_eq!(t.rank(), (rank, 2));
            t
        },
        |mut t| {
            let start = trainable(&t);
            let record = t.train_epoch(&mut |_| {}).unwrap();
            (start, trainable(&t), record, t.state.clone())
        },
    );
    let _ = std::fs::remove_dir_all(
        std::env::temp_dir().join(format!("moga-supernet-dp-rank-{}", std::process::id())),
    );
    // Both ranks started from rank 0's weights, which are the reference's (one seed).
    for (rank, (start, end, record, state)) in ranks.iter().enumerate() {
        for ((name, a), (_, b)) in start.iter().zip(&initial) {
            assert!(a.equal(b), "rank {rank}: initial {name} differs");
        }
        assert_eq!(state.steps, 3);
        assert_eq!(state.updates, ref_state.updates);
        assert_eq!(state.activations, ref_state.activations);
        assert!(record.loss.is_finite() && record.train_accuracy >= 0.0);
        let mut worst = 0f64;
        for ((name, a), (_, b)) in end.iter().zip(&reference) {
            let d = (a - b).abs().max().double_value(&[]);
            assert!(d.is_finite(), "{name}");
            worst = worst.max(d);
        }
        assert!(
            worst < 1e-8,
            "rank {rank}: largest difference from the reference {worst}"
        );
    }
    // The ranks hold the same weights, exactly.
    for ((name, a), (_, b)) in ranks[0].1.iter().zip(&ranks[1].1) {
        assert!(a.equal(b), "{name} differs between the ranks");
    }
}

/// A run checkpointed by two ranks resumes in one process (and the other way round),
/// and ends where an uninterrupted single-process run of the same schedule ends, up
/// to the per-rank BatchNorm statistics' effect on nothing (the training loss of the
/// last epoch is close) and exactly in its counters.
#[test]
fn a_checkpoint_resumes_on_another_number_of_ranks() {
    let _torch = serial();
    tch::set_num_threads(1);
    let mut cfg = config(SpaceId::Fairnas, Strategy::Fair, false);
    cfg.augment = false;
    cfg.epochs = 3;
    cfg.max_steps = Some(2);
    cfg.entangled = true;
    let dir = scratch("dp-resume");
    let d = dir.to_path_buf();
    let c = cfg.clone();
    // Epoch 1 on two ranks.
    two_ranks(
        "dp-resume-1",
        move |_, g| {
            let mut t = initialised(|| Trainer::new(c.clone(), Device::Cpu, &d));
            t.join(g).unwrap();
            t.net.without_dropout();
            t
        },
        |mut t| t.train_epoch(&mut |_| {}).unwrap(),
    );
    // Epoch 2 alone.
    let mut one = Trainer::resume(&dir, Device::Cpu, None).unwrap();
    assert_eq!(one.state.epochs_done, 1);
    one.net.without_dropout();
    one.train_epoch(&mut |_| {}).unwrap();
    drop(one);
    // Epoch 3 on two ranks again.
    let d = dir.to_path_buf();
    let last = two_ranks(
        "dp-resume-3",
        move |_, g| {
            let mut t = Trainer::resume_in(&d, Device::Cpu, None, Some(g)).unwrap();
            t.net.without_dropout();
            t
        },
        |mut t| {
            t.train_epoch(&mut |_| {}).unwrap();
            (t.state.clone(), t.finished())
        },
    );
    let straight_dir = scratch("dp-resume-straight");
    let mut straight = Trainer::new(cfg, Device::Cpu, &straight_dir).unwrap();
    straight.net.without_dropout();
    while !straight.finished() {
        straight.train_epoch(&mut |_| {}).unwrap();
    }
    for (state, finished) in &last {
        assert!(finished);
        assert_eq!(state.steps, 6);
        assert_eq!(state.updates, straight.state.updates);
        assert_eq!(state.activations, straight.state.activations);
        let (a, b) = (state.history[2].loss, straight.state.history[2].loss);
        assert!(
            (a - b).abs() < 0.25 * b.abs().max(0.1),
            "last epoch's loss {a} vs {b}"
        );
    }
    // Rank 1 wrote nothing: the state on disk is rank 0's, all three epochs.
    let on_disk: super::train::TrainState =
        super::train::read_json(&dir.join(super::train::STATE_FILE)).unwrap();
    assert_eq!(on_disk.epochs_done, 3);
}
