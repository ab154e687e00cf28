//! The training and evaluation data of ×2 super-resolution on luminance: image folders
//! split into training and held-out images, the low-resolution pairs made from them,
//! random aligned training patches, and the bicubic baseline.
//!
//! The image arithmetic itself (planes, loading, colour, MATLAB's bicubic resize,
//! PSNR/SSIM) lives in the [`imaging`] crate, which the phone-side runner shares; it is
//! re-exported here so that `supernet::sr_image::…` names one place for all of it.
//! `supernet/tests/sr_image.rs` holds both against scikit-image and MATLAB's `imresize`.

use std::path::{Path, PathBuf};

use lookup_tables::SplitMix64;

pub use imaging::{
    Plane, Rgb, SCALE, SrScore, YCbCr, crop_to_multiple, load_rgb, psnr, resize_bicubic,
    rgb_to_ycbcr, save_rgb_png, score_y, ssim, ycbcr_to_rgb,
};

use crate::error::{Error, Result};

/// An imaging error as the supernet's, still naming the file.
fn from_imaging(e: imaging::Error) -> Error {
    match e {
        imaging::Error::Io { path, error } => Error::Io { path, error },
        e => Error::Usage(e.to_string()),
    }
}

/// One image prepared for ×2 super-resolution, cropped to even sizes. Y and chroma are
/// in [0, 255] as [`rgb_to_ycbcr`] gives them; the network sees Y / 255.
#[derive(Clone, Debug)]
pub struct SrPair {
    /// The file name.
    pub name: String,
    /// High-resolution Y, the target.
    pub hr_y: Plane,
    /// `resize_bicubic(hr_y, w/2, h/2)`: the network's input.
    pub lr_y: Plane,
    /// Low-resolution Cb (bicubic ×1/2 of the high-resolution Cb), for colour output.
    pub lr_cb: Plane,
    /// Low-resolution Cr, likewise.
    pub lr_cr: Plane,
}

impl SrPair {
    /// Converts `rgb` (cropped to even sizes first if needed) and downscales it once.
    ///
    /// # Panics
    /// When the image is smaller than 2×2.
    pub fn new(name: &str, rgb: &Rgb) -> SrPair {
        let ycc = rgb_to_ycbcr(&rgb.crop_to_multiple(SCALE));
        let (w, h) = (ycc.y.width / SCALE, ycc.y.height / SCALE);
        SrPair {
            name: name.to_string(),
            lr_y: resize_bicubic(&ycc.y, w, h),
            lr_cb: resize_bicubic(&ycc.cb, w, h),
            lr_cr: resize_bicubic(&ycc.cr, w, h),
            hr_y: ycc.y,
        }
    }

    /// Every image of a split.
    pub fn all(images: &[(String, Rgb)]) -> Vec<SrPair> {
        images.iter().map(|(n, rgb)| SrPair::new(n, rgb)).collect()
    }
}

/// The bicubic row of a results table: `pair.lr_y` upscaled ×2 by [`resize_bicubic`],
/// scored by [`score_y`].
pub fn bicubic_baseline(pair: &SrPair) -> SrScore {
    let up = resize_bicubic(&pair.lr_y, pair.hr_y.width, pair.hr_y.height);
    score_y(&up, &pair.hr_y)
}

/// A folder of images for super-resolution, each cropped to even sizes.
pub struct SrImages {
    /// (file name, image), for training.
    pub train: Vec<(String, Rgb)>,
    /// (file name, image), for evaluation.
    pub held_out: Vec<(String, Rgb)>,
}

impl SrImages {
    /// Loads `dir`'s `*.png`, `*.jpg` and `*.jpeg` files. With both `dir/train` and
    /// `dir/val`, those two folders are the splits; otherwise the images of `dir` itself,
    /// sorted by file name, are split by position: the image at sorted index i is
    /// held out when i % 3 == 2 (every third, one in three), the rest train. The rule
    /// needs no seed and keeps an image's split when others are added after it.
    /// Errors name the folder when a split would be empty (under three images without
    /// the two folders).
    pub fn load(dir: &Path) -> Result<SrImages> {
        let (tdir, vdir) = (dir.join("train"), dir.join("val"));
        let (train, held_out) = if tdir.is_dir() && vdir.is_dir() {
            let (train, val) = (image_files(&tdir)?, image_files(&vdir)?);
            for (files, d) in [(&train, &tdir), (&val, &vdir)] {
                if files.is_empty() {
                    return Err(Error::Usage(format!(
                        "{}: no .png, .jpg or .jpeg images",
                        d.display()
                    )));
                }
            }
            (train, val)
        } else {
            let files = image_files(dir)?;
            if files.len() < 3 {
                return Err(Error::Usage(format!(
                    "{}: {} .png/.jpg/.jpeg images, so no held-out one: without train/ and \
                     val/ folders every third image is held out, which needs at least three",
                    dir.display(),
                    files.len()
                )));
            }
            split_every_third(files)
        };
        Ok(SrImages {
            train: load_all(&train)?,
            held_out: load_all(&held_out)?,
        })
    }
}

/// The sorted index i % 3 == 2 goes to the second list.
fn split_every_third<T>(items: Vec<T>) -> (Vec<T>, Vec<T>) {
    let (mut rest, mut third) = (Vec::new(), Vec::new());
    for (i, item) in items.into_iter().enumerate() {
        if i % 3 == 2 {
            third.push(item);
        } else {
            rest.push(item);
        }
    }
    (rest, third)
}

fn image_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|error| Error::Io {
            path: dir.to_path_buf(),
            error,
        })?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && imaging::has_image_extension(p))
        .collect();
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

fn load_all(files: &[PathBuf]) -> Result<Vec<(String, Rgb)>> {
    files
        .iter()
        .map(|f| {
            let rgb = load_rgb(f).map_err(from_imaging)?.crop_to_multiple(SCALE);
            if rgb.width() == 0 || rgb.height() == 0 {
                return Err(Error::Usage(format!(
                    "{}: smaller than {SCALE}×{SCALE} pixels",
                    f.display()
                )));
            }
            let name = f
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            Ok((name, rgb))
        })
        .collect()
}

/// Training patches: `count` aligned pairs, as flat N×1×p×p (low resolution, p =
/// `lr_patch`) and N×1×2p×2p (high resolution) arrays of Y / 255.
///
/// Each patch picks an image uniformly, then a low-resolution window at (x, y)
/// uniformly among those that fit; its high-resolution partner is the window at
/// (2x, 2y) of twice the size. The low-resolution input was computed once from the
/// whole image ([`SrPair::new`]), so a patch's borders see real neighbours rather than
/// padding, and MATLAB's ×1/2 grid puts low-resolution pixel i exactly over
/// high-resolution pixels 2i and 2i + 1. Both patches then get the same random
/// flip (left-right, probability ½) followed by the same rotation by 0, 90, 180 or 270
/// degrees (uniform): the eight symmetries of the square, each with probability 1/8,
/// all of which keep the pairs aligned.
///
/// Errors when there is no image or an image is smaller than the patch.
pub fn random_patches(
    pairs: &[SrPair],
    lr_patch: usize,
    count: usize,
    rng: &mut SplitMix64,
) -> Result<(Vec<f32>, Vec<f32>)> {
    if pairs.is_empty() || lr_patch == 0 {
        return Err(Error::Usage(format!(
            "super-resolution patches need images and a patch size above 0 (got {} images, \
             patch {lr_patch})",
            pairs.len()
        )));
    }
    if let Some(p) = pairs
        .iter()
        .find(|p| p.lr_y.width < lr_patch || p.lr_y.height < lr_patch)
    {
        return Err(Error::Usage(format!(
            "{}: {}×{} pixels, too small for {}×{} training patches",
            p.name,
            p.hr_y.width,
            p.hr_y.height,
            SCALE * lr_patch,
            SCALE * lr_patch
        )));
    }
    let hr_patch = SCALE * lr_patch;
    let mut lr = Vec::with_capacity(count * lr_patch * lr_patch);
    let mut hr = Vec::with_capacity(count * hr_patch * hr_patch);
    for _ in 0..count {
        let pair = &pairs[rng.below(pairs.len() as u64) as usize];
        let x = rng.below((pair.lr_y.width - lr_patch + 1) as u64) as usize;
        let y = rng.below((pair.lr_y.height - lr_patch + 1) as u64) as usize;
        let flip = rng.below(2) == 1;
        let quarter_turns = rng.below(4) as usize;
        let lr_crop = pair.lr_y.crop(x, y, lr_patch, lr_patch);
        let hr_crop = pair.hr_y.crop(SCALE * x, SCALE * y, hr_patch, hr_patch);
        lr.extend(dihedral(&lr_crop, flip, quarter_turns).map(|v| v / 255.0));
        hr.extend(dihedral(&hr_crop, flip, quarter_turns).map(|v| v / 255.0));
    }
    Ok((lr, hr))
}

/// The pixels of a square plane, in row-major order of the output, after a left-right
/// flip (when `flip`) and then `quarter_turns` clockwise quarter turns.
fn dihedral(p: &Plane, flip: bool, quarter_turns: usize) -> impl Iterator<Item = f32> + '_ {
    let s = p.width;
    debug_assert_eq!(s, p.height);
    (0..s * s).map(move |i| {
        // Walk back from output (x, y) to the source pixel: undo the turns
        // (a clockwise turn sends (x, y) to (s−1−y, x)), then the flip.
        let (mut x, mut y) = (i % s, i / s);
        for _ in 0..quarter_turns % 4 {
            (x, y) = (y, s - 1 - x);
        }
        if flip {
            x = s - 1 - x;
        }
        p.at(x, y)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: usize, h: usize) -> Plane {
        let data = (0..w * h)
            .map(|i| 40.0 + 1.5 * (i % w) as f32 + 2.0 * (i / w) as f32)
            .collect();
        Plane::new(w, h, data)
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("moga-sr-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn every_third_image_is_held_out() {
        let (train, held) = split_every_third((0..8).collect());
        assert_eq!(train, vec![0, 1, 3, 4, 6, 7]);
        assert_eq!(held, vec![2, 5]);
    }

    #[test]
    fn a_folder_splits_by_sorted_name_and_grey_images_become_rgb() {
        let dir = scratch("folder");
        for (i, name) in ["d.png", "a.png", "c.jpg", "b.PNG", "e.jpeg"]
            .iter()
            .enumerate()
        {
            let img = image::GrayImage::from_fn(9, 7, |x, y| {
                image::Luma([(x * 20 + y + i as u32) as u8])
            });
            // PNG whatever the name: the format is read from the bytes.
            img.save_with_format(dir.join(name), image::ImageFormat::Png)
                .unwrap();
        }
        std::fs::write(dir.join("notes.txt"), "not an image").unwrap();
        let s = SrImages::load(&dir).unwrap();
        let names = |v: &[(String, Rgb)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        // Sorted: a.png b.PNG c.jpg d.png e.jpeg; index 2 (c.jpg) is held out.
        assert_eq!(names(&s.train), ["a.png", "b.PNG", "d.png", "e.jpeg"]);
        assert_eq!(names(&s.held_out), ["c.jpg"]);
        let rgb = &s.train[0].1;
        assert_eq!((rgb.width(), rgb.height()), (8, 6));
        assert_eq!(rgb.r, rgb.g);
        assert_eq!(rgb.r.at(3, 2), 63.0, "a.png is the second image written");

        std::fs::remove_file(dir.join("c.jpg")).unwrap();
        std::fs::remove_file(dir.join("d.png")).unwrap();
        std::fs::remove_file(dir.join("e.jpeg")).unwrap();
        let err = SrImages::load(&dir).err().unwrap().to_string();
        assert!(
            err.contains(&dir.display().to_string()) && err.contains("held-out"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unreadable_image_is_named() {
        let dir = scratch("bad");
        for name in ["a.png", "b.png"] {
            image::GrayImage::new(4, 4).save(dir.join(name)).unwrap();
        }
        std::fs::write(dir.join("x.png"), "not a png").unwrap();
        let err = SrImages::load(&dir).err().unwrap();
        assert!(matches!(err, Error::Usage(_)), "{err:?}");
        let err = err.to_string();
        assert!(
            err.contains("x.png") && err.contains("not an image moga can read"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A plane of distinct pseudo-random values, so that a window is recognisable.
    fn noise(w: usize, h: usize, seed: u64) -> Plane {
        let mut rng = SplitMix64::new(seed);
        Plane::new(
            w,
            h,
            (0..w * h)
                .map(|_| (rng.next_f64() * 255.0) as f32)
                .collect(),
        )
    }

    #[test]
    fn patches_are_aligned_and_transformed_alike() {
        let (w, h, p) = (24, 20, 4);
        let rgb = Rgb {
            r: noise(w, h, 1),
            g: noise(w, h, 2),
            b: noise(w, h, 3),
        };
        let pair = SrPair::new("noise", &rgb);
        let n = 64;
        let (lr, hr) =
            random_patches(std::slice::from_ref(&pair), p, n, &mut SplitMix64::new(3)).unwrap();
        assert_eq!((lr.len(), hr.len()), (n * p * p, n * 4 * p * p));
        // Every pair must be one window (x, y) of the LR plane and the window (2x, 2y) of
        // the HR plane, under one and the same symmetry.
        let mut seen = [0; 8];
        for (l, hp) in lr.chunks_exact(p * p).zip(hr.chunks_exact(4 * p * p)) {
            let mut found = None;
            for (x, y, t) in (0..=w / 2 - p)
                .flat_map(|x| (0..=h / 2 - p).flat_map(move |y| (0..8).map(move |t| (x, y, t))))
            {
                let (flip, turns) = (t >= 4, t % 4);
                let same = |q: &Plane, got: &[f32]| {
                    dihedral(q, flip, turns)
                        .zip(got)
                        .all(|(a, &b)| a / 255.0 == b)
                };
                if same(&pair.lr_y.crop(x, y, p, p), l)
                    && same(&pair.hr_y.crop(2 * x, 2 * y, 2 * p, 2 * p), hp)
                {
                    found = Some(t);
                }
            }
            seen[found.expect("a patch pair that is no aligned window")] += 1;
        }
        assert!(
            seen.iter().all(|&c| c > 0),
            "every symmetry occurs: {seen:?}"
        );
        let err = random_patches(&[pair], 13, 1, &mut SplitMix64::new(0))
            .err()
            .unwrap();
        assert!(err.to_string().contains("noise"), "{err}");
    }

    #[test]
    fn dihedral_turns_clockwise() {
        // 0 1 / 2 3 turned clockwise is 2 0 / 3 1; flipped first, 3 1 / 2 0.
        let p = Plane::new(2, 2, vec![0.0, 1.0, 2.0, 3.0]);
        assert_eq!(
            dihedral(&p, false, 1).collect::<Vec<_>>(),
            [2.0, 0.0, 3.0, 1.0]
        );
        assert_eq!(
            dihedral(&p, true, 1).collect::<Vec<_>>(),
            [3.0, 1.0, 2.0, 0.0]
        );
        assert_eq!(
            dihedral(&p, false, 4).collect::<Vec<_>>(),
            [0.0, 1.0, 2.0, 3.0]
        );
    }

    #[test]
    fn the_bicubic_baseline_scores_a_smooth_image_highly() {
        let rgb = Rgb {
            r: ramp(32, 28),
            g: ramp(32, 28),
            b: ramp(32, 28),
        };
        let s = bicubic_baseline(&SrPair::new("ramp", &rgb));
        assert!(s.psnr_db > 35.0 && s.ssim > 0.95, "{s:?}");
    }
}
