//! Training data: the bundled 8×8 digits, CIFAR-10 from its binary files, or a folder
//! of class sub-folders of images. Everything is held as uint8 NCHW tensors at the
//! network's input resolution and normalised per batch; batches are shuffled with a
//! seed, and training batches are augmented (random crop with padding, and horizontal
//! flips where they keep the class: not for digits).

use std::path::{Path, PathBuf};

use lookup_tables::SplitMix64;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};

/// Where the images come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "path")]
pub enum DataSpec {
    /// scikit-learn's 1,797 handwritten digits, bundled (supernet/data/digits.csv.gz).
    Digits,
    /// The bundled digits under seeded random affine maps and elastic distortion
    /// ([`digits_affine`]): a harder task on which networks differ more.
    #[serde(rename = "digits-affine")]
    DigitsAffine,
    /// CIFAR-10's binary release: `data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`.
    Cifar10(PathBuf),
    /// `DIR/<class>/*.png|jpg`; with `DIR/train` and `DIR/val` when both exist, else a
    /// seeded 80/20 split.
    Folder(PathBuf),
}

impl DataSpec {
    /// Reads `digits`, `cifar10:DIR` or `folder:DIR`.
    pub fn parse(s: &str) -> Result<DataSpec> {
        if s == "digits" {
            return Ok(DataSpec::Digits);
        }
        if s == "digits-affine" {
            return Ok(DataSpec::DigitsAffine);
        }
        if let Some(d) = s.strip_prefix("cifar10:") {
            return Ok(DataSpec::Cifar10(PathBuf::from(d)));
        }
        if let Some(d) = s.strip_prefix("folder:") {
            return Ok(DataSpec::Folder(PathBuf::from(d)));
        }
        Err(Error::Usage(format!(
            "--data '{s}': expected digits, digits-affine, cifar10:DIR or folder:DIR"
        )))
    }
}

impl std::fmt::Display for DataSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataSpec::Digits => f.write_str("digits"),
            DataSpec::DigitsAffine => f.write_str("digits-affine"),
            DataSpec::Cifar10(p) => write!(f, "cifar10:{}", p.display()),
            DataSpec::Folder(p) => write!(f, "folder:{}", p.display()),
        }
    }
}

/// Images and labels of one split.
pub struct Split {
    /// uint8 [N, 3, R, R].
    pub images: Tensor,
    /// int64 [N].
    pub labels: Tensor,
}

impl Split {
    /// Examples.
    pub fn len(&self) -> usize {
        self.labels.size()[0] as usize
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A data set ready for training.
pub struct Data {
    /// What it is.
    pub spec: DataSpec,
    /// Training split.
    pub train: Split,
    /// Validation split.
    pub val: Split,
    /// Classes.
    pub classes: usize,
    /// Per-channel mean and standard deviation of the training images (0–255 scale).
    pub mean_std: [(f64, f64); 3],
    /// Whether horizontal flips keep the class.
    pub flips: bool,
    /// Input resolution.
    pub resolution: usize,
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        error: e,
    }
}

/// Resizes uint8 [N, C, h, w] to [N, 3, r, r] (bilinear; grey replicated to RGB).
fn to_rgb_at(images: Tensor, r: usize) -> Tensor {
    let x = images.to_kind(Kind::Float);
    let x = if x.size()[1] == 1 {
        x.repeat([1, 3, 1, 1])
    } else {
        x
    };
    let (h, w) = (x.size()[2], x.size()[3]);
    let x = if h as usize != r || w as usize != r {
        x.upsample_bilinear2d([r as i64, r as i64], false, None, None)
    } else {
        x
    };
    x.clamp(0.0, 255.0).round().to_kind(Kind::Uint8)
}

fn split_seeded(images: Tensor, labels: Tensor, seed: u64, val_share: f64) -> (Split, Split) {
    let n = labels.size()[0] as usize;
    let mut idx: Vec<i64> = (0..n as i64).collect();
    let mut rng = SplitMix64::new(seed ^ 0x5eed_da7a);
    for i in (1..n).rev() {
        idx.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let cut = n - ((n as f64 * val_share).round() as usize).clamp(1, n - 1);
    let train = Tensor::from_slice(&idx[..cut]);
    let val = Tensor::from_slice(&idx[cut..]);
    (
        Split {
            images: images.index_select(0, &train),
            labels: labels.index_select(0, &train),
        },
        Split {
            images: images.index_select(0, &val),
            labels: labels.index_select(0, &val),
        },
    )
}

/// The bundled digits, gzip-compressed CSV (64 pixels 0–16, then the label).
const DIGITS_GZ: &[u8] = include_bytes!("../data/digits.csv.gz");

fn digits(resolution: usize, seed: u64) -> Result<(Split, Split, usize)> {
    // Built into the binary, so `--data digits` works wherever moga is installed.
    let path = Path::new("supernet/data/digits.csv.gz");
    let text = gunzip(DIGITS_GZ).map_err(|m| Error::Usage(format!("{}: {m}", path.display())))?;
    let mut pixels = Vec::with_capacity(1797 * 64);
    let mut labels = Vec::with_capacity(1797);
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: Vec<u8> = line
            .split(',')
            .map(|x| x.trim().parse::<u8>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| {
                Error::Usage(format!(
                    "{}: line {}: not 65 integers",
                    path.display(),
                    i + 1
                ))
            })?;
        if v.len() != 65 {
            return Err(Error::Usage(format!(
                "{}: line {}: {} values, expected 65",
                path.display(),
                i + 1,
                v.len()
            )));
        }
        // 0–16 → 0–255.
        pixels.extend(v[..64].iter().map(|&p| (u16::from(p) * 255 / 16) as u8));
        labels.push(i64::from(v[64]));
    }
    let n = labels.len() as i64;
    let images = to_rgb_at(Tensor::from_slice(&pixels).view([n, 1, 8, 8]), resolution);
    let (train, val) = split_seeded(images, Tensor::from_slice(&labels), seed, 0.2);
    Ok((train, val, 10))
}

/// Distorted copies of each training image in `digits-affine`.
const AFFINE_COPIES: usize = 4;

/// The seed of `digits-affine`'s train/validation split, whatever the run's seed.
const AFFINE_SPLIT_SEED: u64 = 0x00af_f14e;

/// `digits-affine`, in the spirit of affNIST and MNIST-rot: the bundled digits at
/// `resolution`, split 80/20 with a fixed seed (not the run's: every run, every seed of
/// a network, sees the same images), each training image in [`AFFINE_COPIES`] distorted
/// copies and each validation image in one, all fixed by fixed seeds. A distortion is
/// a random affine map (rotation within ±30°, scale 0.8–1.15, shear within ±0.3,
/// translation within ±6 % of the side) composed with an elastic field (Simard et al.
/// 2003: uniform noise per pixel smoothed by a Gaussian of σ = side/8, scaled to a
/// standard deviation of side/24 pixels), sampled bilinearly with zeros outside.
fn digits_affine(resolution: usize) -> Result<(Split, Split, usize)> {
    let (train, val, classes) = digits(resolution, AFFINE_SPLIT_SEED)?;
    let idx = Tensor::arange(train.len() as i64, (Kind::Int64, Device::Cpu))
        .repeat([AFFINE_COPIES as i64]);
    let train = Split {
        images: distort(&train.images.index_select(0, &idx), 0x7a1a),
        labels: train.labels.index_select(0, &idx),
    };
    let val = Split {
        images: distort(&val.images, 0x7e57),
        labels: val.labels,
    };
    Ok((train, val, classes))
}

/// Each of the uint8 NCHW `images` under its own random affine map and elastic field
/// (see [`digits_affine`]), drawn from `seed`.
fn distort(images: &Tensor, seed: u64) -> Tensor {
    let size = images.size();
    let (n, r) = (size[0], size[2]);
    let mut rng = SplitMix64::new(seed);
    let mut uniform =
        |lo: f64, hi: f64| lo + (hi - lo) * rng.below(1 << 24) as f64 / (1u64 << 24) as f64;
    let mut theta = Vec::with_capacity(n as usize * 6);
    for _ in 0..n {
        let angle = uniform(-30.0, 30.0).to_radians();
        let scale = uniform(0.8, 1.15);
        let shear = uniform(-0.3, 0.3);
        let (tx, ty) = (uniform(-0.12, 0.12), uniform(-0.12, 0.12));
        let (c, s) = (angle.cos(), angle.sin());
        // Rotation times [[scale, shear], [0, scale]]: maps output to input coordinates.
        theta.extend(
            [
                c * scale,
                c * shear - s * scale,
                tx,
                s * scale,
                s * shear + c * scale,
                ty,
            ]
            .map(|v| v as f32),
        );
    }
    let theta = Tensor::from_slice(&theta).view([n, 2, 3]);
    let grid = Tensor::affine_grid_generator(&theta, [n, 3, r, r], false);
    // The elastic field: uniform noise, a separable Gaussian blur, then scaled so its
    // standard deviation is side/24 pixels (in grid units: 2/side per pixel).
    let noise: Vec<f32> = (0..n * 2 * r * r)
        .map(|_| uniform(-1.0, 1.0) as f32)
        .collect();
    let sigma = r as f64 / 8.0;
    let half = (3.0 * sigma).ceil() as i64;
    let taps: Vec<f32> = (-half..=half)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp() as f32)
        .collect();
    let k = Tensor::from_slice(&taps);
    let k = &k / k.sum(Kind::Float);
    let field = Tensor::from_slice(&noise).view([n * 2, 1, r, r]);
    let field = field
        .conv2d(
            &k.view([1, 1, 1, -1]),
            None::<Tensor>,
            [1, 1],
            [0, half],
            [1, 1],
            1,
        )
        .conv2d(
            &k.view([1, 1, -1, 1]),
            None::<Tensor>,
            [1, 1],
            [half, 0],
            [1, 1],
            1,
        );
    let std = field.std(true).double_value(&[]).max(1e-12);
    let pixels = r as f64 / 24.0;
    let field = (field * (pixels / std * 2.0 / r as f64))
        .view([n, 2, r, r])
        .permute([0, 2, 3, 1]);
    let x = images.to_kind(Kind::Float);
    x.grid_sampler(&(grid + field), 0, 0, false)
        .round()
        .clamp(0.0, 255.0)
        .to_kind(Kind::Uint8)
}

fn cifar_file(path: &Path) -> Result<(Vec<u8>, Vec<i64>)> {
    let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
    const REC: usize = 1 + 3072;
    if bytes.is_empty() || bytes.len() % REC != 0 {
        return Err(Error::Usage(format!(
            "{}: {} bytes is not a whole number of CIFAR-10 records ({REC} bytes each)",
            path.display(),
            bytes.len()
        )));
    }
    let mut pixels = Vec::with_capacity(bytes.len());
    let mut labels = Vec::with_capacity(bytes.len() / REC);
    for (i, rec) in bytes.chunks_exact(REC).enumerate() {
        if rec[0] > 9 {
            return Err(Error::Usage(format!(
                "{}: record {i} has label {}, CIFAR-10 labels are 0–9",
                path.display(),
                rec[0]
            )));
        }
        labels.push(i64::from(rec[0]));
        pixels.extend_from_slice(&rec[1..]);
    }
    Ok((pixels, labels))
}

fn cifar10(dir: &Path, resolution: usize) -> Result<(Split, Split, usize)> {
    let load = |names: &[String]| -> Result<Split> {
        let (mut p, mut l) = (Vec::new(), Vec::new());
        for n in names {
            let (pp, ll) = cifar_file(&dir.join(n))?;
            p.extend(pp);
            l.extend(ll);
        }
        let n = l.len() as i64;
        Ok(Split {
            images: to_rgb_at(Tensor::from_slice(&p).view([n, 3, 32, 32]), resolution),
            labels: Tensor::from_slice(&l),
        })
    };
    let train = load(
        &(1..=5)
            .map(|i| format!("data_batch_{i}.bin"))
            .collect::<Vec<_>>(),
    )?;
    let val = load(&["test_batch.bin".to_string()])?;
    Ok((train, val, 10))
}

fn folder_split(dir: &Path, classes: &[String], resolution: usize) -> Result<(Tensor, Tensor)> {
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for (ci, class) in classes.iter().enumerate() {
        let cdir = dir.join(class);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&cdir)
            .map_err(|e| io(&cdir, e))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for f in files {
            let img = image::open(&f).map_err(|e| {
                Error::Usage(format!("{}: not an image moga can read ({e})", f.display()))
            })?;
            let img = img
                .resize_exact(
                    resolution as u32,
                    resolution as u32,
                    image::imageops::FilterType::Triangle,
                )
                .to_rgb8();
            // HWC → CHW
            let raw = img.into_raw();
            let plane = resolution * resolution;
            for c in 0..3 {
                pixels.extend((0..plane).map(|i| raw[i * 3 + c]));
            }
            labels.push(ci as i64);
        }
    }
    if labels.is_empty() {
        return Err(Error::Usage(format!(
            "{}: no images in its class folders",
            dir.display()
        )));
    }
    let n = labels.len() as i64;
    Ok((
        Tensor::from_slice(&pixels).view([n, 3, resolution as i64, resolution as i64]),
        Tensor::from_slice(&labels),
    ))
}

fn class_dirs(dir: &Path) -> Result<Vec<String>> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    if v.len() < 2 {
        return Err(Error::Usage(format!(
            "{}: needs at least two class folders, found {}",
            dir.display(),
            v.len()
        )));
    }
    Ok(v)
}

fn folder(dir: &Path, resolution: usize, seed: u64) -> Result<(Split, Split, usize)> {
    let (tdir, vdir) = (dir.join("train"), dir.join("val"));
    if tdir.is_dir() && vdir.is_dir() {
        let classes = class_dirs(&tdir)?;
        let (ti, tl) = folder_split(&tdir, &classes, resolution)?;
        let (vi, vl) = folder_split(&vdir, &classes, resolution)?;
        return Ok((
            Split {
                images: ti,
                labels: tl,
            },
            Split {
                images: vi,
                labels: vl,
            },
            classes.len(),
        ));
    }
    let classes = class_dirs(dir)?;
    let (i, l) = folder_split(dir, &classes, resolution)?;
    let (t, v) = split_seeded(i, l, seed, 0.2);
    Ok((t, v, classes.len()))
}

impl Data {
    /// Loads `spec` at `resolution`.
    pub fn load(spec: &DataSpec, resolution: usize, seed: u64) -> Result<Data> {
        let (train, val, classes) = match spec {
            DataSpec::Digits => digits(resolution, seed)?,
            DataSpec::DigitsAffine => digits_affine(resolution)?,
            DataSpec::Cifar10(d) => cifar10(d, resolution)?,
            DataSpec::Folder(d) => folder(d, resolution, seed)?,
        };
        let x = train.images.to_kind(Kind::Float);
        let mut mean_std = [(0.0, 1.0); 3];
        for (c, ms) in mean_std.iter_mut().enumerate() {
            let ch = x.select(1, c as i64);
            *ms = (
                ch.mean(Kind::Float).double_value(&[]),
                ch.std(true).double_value(&[]).max(1e-3),
            );
        }
        Ok(Data {
            flips: !matches!(spec, DataSpec::Digits | DataSpec::DigitsAffine),
            spec: spec.clone(),
            train,
            val,
            classes,
            mean_std,
            resolution,
        })
    }

    /// Normalises uint8 images into float inputs on `device`.
    pub fn normalise(&self, images: &Tensor, device: Device) -> Tensor {
        let mean = Tensor::from_slice(&self.mean_std.map(|m| m.0 as f32))
            .view([1, 3, 1, 1])
            .to_device(device);
        let std = Tensor::from_slice(&self.mean_std.map(|m| m.1 as f32))
            .view([1, 3, 1, 1])
            .to_device(device);
        (images.to_device(device).to_kind(Kind::Float) - mean) / std
    }

    /// Batches of `split` in a seeded random order (the last, smaller batch included).
    pub fn batches(&self, split: &Split, batch: usize, rng: &mut SplitMix64) -> Vec<Tensor> {
        let n = split.len();
        let mut idx: Vec<i64> = (0..n as i64).collect();
        for i in (1..n).rev() {
            idx.swap(i, rng.below(i as u64 + 1) as usize);
        }
        idx.chunks(batch.max(1)).map(Tensor::from_slice).collect()
    }

    /// A training batch: the examples at `idx`, augmented (random crop after padding by
    /// resolution/8, and a horizontal flip for half of them where flips keep the
    /// class), normalised, on `device`.
    pub fn train_batch(
        &self,
        idx: &Tensor,
        rng: &mut SplitMix64,
        device: Device,
    ) -> (Tensor, Tensor) {
        let x = self.train.images.index_select(0, idx);
        let pad = (self.resolution / 8).max(1) as i64;
        let r = self.resolution as i64;
        let padded = x.constant_pad_nd([pad, pad, pad, pad]);
        let crops: Vec<Tensor> = (0..x.size()[0])
            .map(|i| {
                let (dy, dx) = (
                    rng.below(2 * pad as u64 + 1) as i64,
                    rng.below(2 * pad as u64 + 1) as i64,
                );
                let img = padded.get(i).narrow(1, dy, r).narrow(2, dx, r);
                if self.flips && rng.below(2) == 1 {
                    img.flip([2])
                } else {
                    img
                }
            })
            .collect();
        (
            self.normalise(&Tensor::stack(&crops, 0), device),
            self.train.labels.index_select(0, idx).to_device(device),
        )
    }

    /// An unaugmented batch of `split`, normalised, on `device`.
    pub fn plain_batch(&self, split: &Split, idx: &Tensor, device: Device) -> (Tensor, Tensor) {
        (
            self.normalise(&split.images.index_select(0, idx), device),
            split.labels.index_select(0, idx).to_device(device),
        )
    }
}

/// Decompresses gzip data to text.
fn gunzip(gz: &[u8]) -> std::result::Result<String, String> {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_affine_is_a_fixed_distorted_copy_of_the_digits() {
        let a = Data::load(&DataSpec::DigitsAffine, 32, 1).unwrap();
        let b = Data::load(&DataSpec::DigitsAffine, 32, 2).unwrap();
        assert_eq!(a.classes, 10);
        assert_eq!(a.val.len(), 359);
        assert_eq!(a.train.len(), 1438 * AFFINE_COPIES);
        // The same images whatever the run's seed.
        assert!(a.val.images.equal(&b.val.images) && a.train.images.equal(&b.train.images));
        assert!(a.train.labels.equal(&b.train.labels));
        // Distorted, yet still digits: the copies of one image differ, and the ink is
        // moved, not lost (the mean intensity stays within a fifth of the digits').
        let n = 1438;
        assert!(!a.train.images.get(0).equal(&a.train.images.get(n)));
        let plain = digits(32, AFFINE_SPLIT_SEED).unwrap().0;
        let ink = |t: &Tensor| t.to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
        let ratio = ink(&a.train.images) / ink(&plain.images);
        assert!((0.8..1.2).contains(&ratio), "ink ratio {ratio}");
        assert!(a.train.labels.narrow(0, 0, n).equal(&plain.labels));
        assert_eq!(
            DataSpec::parse("digits-affine").unwrap(),
            DataSpec::DigitsAffine
        );
        assert_eq!(
            serde_json::to_string(&DataSpec::DigitsAffine).unwrap(),
            r#"{"kind":"digits-affine"}"#
        );
    }

    #[test]
    fn the_bundled_digits_load_split_and_augment() {
        let d = Data::load(&DataSpec::Digits, 32, 1).unwrap();
        assert_eq!((d.train.len() + d.val.len(), d.classes), (1797, 10));
        assert_eq!(d.train.images.size(), [d.train.len() as i64, 3, 32, 32]);
        let labels = Vec::<i64>::try_from(&d.train.labels).unwrap();
        assert!((0..10).all(|c| labels.contains(&c)));
        let mut rng = SplitMix64::new(2);
        let batches = d.batches(&d.train, 64, &mut rng);
        assert_eq!(
            batches.iter().map(|b| b.size()[0] as usize).sum::<usize>(),
            d.train.len()
        );
        let (x, y) = d.train_batch(&batches[0], &mut rng, Device::Cpu);
        assert_eq!((x.size(), y.size()), (vec![64, 3, 32, 32], vec![64]));
        // Normalised: roughly zero mean, unit spread over the training set.
        let (xa, _) = d.plain_batch(
            &d.train,
            &Tensor::arange(d.train.len() as i64, (Kind::Int64, Device::Cpu)),
            Device::Cpu,
        );
        assert!(xa.mean(Kind::Float).double_value(&[]).abs() < 0.05);
        // The same seed splits the same way.
        assert_eq!(
            Data::load(&DataSpec::Digits, 32, 1).unwrap().val.labels,
            d.val.labels
        );
    }

    #[test]
    fn cifar_binaries_and_image_folders_load_with_their_labels() {
        let dir = std::env::temp_dir().join(format!("moga-data-ok-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // CIFAR-10's record layout: label byte, then 1024 R, 1024 G, 1024 B; pixel value
        // = 20·label so a record's label can be read back from its pixels.
        let cifar = dir.join("cifar");
        std::fs::create_dir_all(&cifar).unwrap();
        let records = |labels: &[u8]| -> Vec<u8> {
            labels
                .iter()
                .flat_map(|&l| std::iter::once(l).chain(std::iter::repeat_n(20 * l, 3072)))
                .collect()
        };
        for i in 1..=5 {
            let labels: Vec<u8> = (0..4).map(|k| ((i + k) % 10) as u8).collect();
            std::fs::write(cifar.join(format!("data_batch_{i}.bin")), records(&labels)).unwrap();
        }
        std::fs::write(cifar.join("test_batch.bin"), records(&[9, 3])).unwrap();
        let d = Data::load(&DataSpec::Cifar10(cifar), 32, 0).unwrap();
        assert_eq!((d.train.len(), d.val.len(), d.classes), (20, 2, 10));
        assert_eq!(d.train.images.size(), [20, 3, 32, 32]);
        assert_eq!(Vec::<i64>::try_from(&d.val.labels).unwrap(), [9, 3]);
        let px = d.val.images.get(1).mean(Kind::Float).double_value(&[]);
        assert!((px - 60.0).abs() < 1e-3, "{px}");

        // Class folders (sorted names are the labels), with train/ and val/.
        let folder = dir.join("folder");
        for (split, n) in [("train", 3), ("val", 1)] {
            for (c, shade) in [("cat", 40u8), ("dog", 200u8)] {
                let cdir = folder.join(split).join(c);
                std::fs::create_dir_all(&cdir).unwrap();
                for k in 0..n {
                    image::RgbImage::from_pixel(12, 10, image::Rgb([shade, shade, shade]))
                        .save(cdir.join(format!("{k}.png")))
                        .unwrap();
                }
            }
        }
        let d = Data::load(&DataSpec::Folder(folder.clone()), 32, 0).unwrap();
        assert_eq!((d.train.len(), d.val.len(), d.classes), (6, 2, 2));
        assert_eq!(Vec::<i64>::try_from(&d.val.labels).unwrap(), [0, 1]);
        let dog = d.val.images.get(1).mean(Kind::Float).double_value(&[]);
        assert!((dog - 200.0).abs() < 1.0, "{dog}");
        // Without train/ and val/: one folder per class, split 80/20 by seed.
        let flat = folder.join("train");
        let d = Data::load(&DataSpec::Folder(flat), 32, 0).unwrap();
        assert_eq!(d.train.len() + d.val.len(), 6);
        assert!(!d.val.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_inputs_name_the_file() {
        let dir = std::env::temp_dir().join(format!("moga-cifar-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("data_batch_1.bin"), vec![0u8; 100]).unwrap();
        let err = Data::load(&DataSpec::Cifar10(dir.clone()), 32, 0)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("data_batch_1.bin") && err.contains("3073"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(DataSpec::parse("imagenet").is_err());
    }
}
