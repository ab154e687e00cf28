//! Images for ×2 super-resolution on luminance, in plain `Vec<f32>` (no libtorch): loading,
//! the colour transform, MATLAB's bicubic resize, the PSNR/SSIM metrics, and the
//! training and evaluation data built from them.
//!
//! Every piece follows the reference that super-resolution papers report against, so
//! that a figure computed here can be set beside a published one:
//!
//! - colour: scikit-image's `rgb2ycbcr`/`ycbcr2rgb` (ITU-R BT.601 studio range,
//!   Y in [16, 235]), on values in [0, 255];
//! - resizing: MATLAB's `imresize(…, 'bicubic')`, with its antialiasing when shrinking
//!   and its symmetric padding ([`resize_bicubic`]); low-resolution inputs are the
//!   bicubic ×1/2 of the high-resolution Y, computed in floating point (SRCNN's
//!   protocol), never rounded;
//! - metrics: scikit-image's `peak_signal_noise_ratio` and `structural_similarity` with
//!   Wang et al.'s Gaussian window, on Y in [0, 255] after shaving a border.
//!
//! `scripts/sr_metrics_check.py` computes the same quantities with scikit-image and a
//! NumPy transcription of `imresize`; `supernet/tests/sr_image.rs` holds them equal.

use std::path::{Path, PathBuf};

use lookup_tables::SplitMix64;

use crate::error::{Error, Result};

/// The upscaling factor: sizes are cropped to multiples of it, and [`score_y`] shaves
/// this many pixels from every side (the usual convention for ×2).
pub const SCALE: usize = 2;

/// One channel, row-major: the pixel at column `x`, row `y` is `data[y * width + x]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Plane {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `width * height` values.
    pub data: Vec<f32>,
}

impl Plane {
    /// A plane of `data`.
    ///
    /// # Panics
    /// When `data.len() != width * height`.
    pub fn new(width: usize, height: usize, data: Vec<f32>) -> Plane {
        assert_eq!(data.len(), width * height, "a {width}×{height} plane");
        Plane {
            width,
            height,
            data,
        }
    }

    /// A plane of one value.
    pub fn filled(width: usize, height: usize, value: f32) -> Plane {
        Plane::new(width, height, vec![value; width * height])
    }

    /// The pixel at column `x`, row `y`.
    pub fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }

    /// The `width`×`height` window whose top-left pixel is (`x`, `y`).
    ///
    /// # Panics
    /// When the window leaves the plane.
    pub fn crop(&self, x: usize, y: usize, width: usize, height: usize) -> Plane {
        assert!(
            x + width <= self.width && y + height <= self.height,
            "a {width}×{height} window at ({x}, {y}) of a {}×{} plane",
            self.width,
            self.height
        );
        let mut data = Vec::with_capacity(width * height);
        for row in y..y + height {
            let start = row * self.width + x;
            data.extend_from_slice(&self.data[start..start + width]);
        }
        Plane::new(width, height, data)
    }

    /// Clipped to [0, 255] and rounded half away from zero: the values an 8-bit image
    /// would hold (MATLAB's conversion to uint8).
    pub fn quantized_u8(&self) -> Plane {
        let data = self
            .data
            .iter()
            .map(|v| v.clamp(0.0, 255.0).round())
            .collect();
        Plane::new(self.width, self.height, data)
    }
}

/// Drops the right columns and bottom rows that do not fill a multiple of `multiple`
/// (MATLAB's `modcrop`: the top-left corner stays).
pub fn crop_to_multiple(p: &Plane, multiple: usize) -> Plane {
    p.crop(
        0,
        0,
        p.width - p.width % multiple,
        p.height - p.height % multiple,
    )
}

/// A colour image as three planes of the same size (planar rather than interleaved:
/// the colour transform, the resize and the network all work one channel at a time),
/// values in [0, 255].
#[derive(Clone, Debug, PartialEq)]
pub struct Rgb {
    /// Red.
    pub r: Plane,
    /// Green.
    pub g: Plane,
    /// Blue.
    pub b: Plane,
}

impl Rgb {
    /// Columns.
    pub fn width(&self) -> usize {
        self.r.width
    }

    /// Rows.
    pub fn height(&self) -> usize {
        self.r.height
    }

    /// Every channel through [`crop_to_multiple`].
    pub fn crop_to_multiple(&self, multiple: usize) -> Rgb {
        Rgb {
            r: crop_to_multiple(&self.r, multiple),
            g: crop_to_multiple(&self.g, multiple),
            b: crop_to_multiple(&self.b, multiple),
        }
    }
}

/// Reads a PNG or JPEG as values in [0, 255]: greyscale is replicated to three
/// channels, alpha is dropped, 16-bit images are scaled to 8 bits.
pub fn load_rgb(path: &Path) -> Result<Rgb> {
    let io = |error| Error::Io {
        path: path.to_path_buf(),
        error,
    };
    // The format comes from the bytes, not the extension.
    let img = image::io::Reader::open(path)
        .map_err(io)?
        .with_guessed_format()
        .map_err(io)?
        .decode()
        .map_err(|e| match e {
            image::ImageError::IoError(error) => io(error),
            e => Error::Usage(format!(
                "{}: not an image moga can read ({e})",
                path.display()
            )),
        })?;
    let img = img.to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut planes = [(); 3].map(|_| Vec::with_capacity(w * h));
    for px in img.pixels() {
        for (plane, v) in planes.iter_mut().zip(px.0) {
            plane.push(f32::from(v));
        }
    }
    let [r, g, b] = planes.map(|d| Plane::new(w, h, d));
    Ok(Rgb { r, g, b })
}

/// An image in YCbCr: Y in [16, 235], Cb and Cr in [16, 240].
#[derive(Clone, Debug, PartialEq)]
pub struct YCbCr {
    /// Luminance.
    pub y: Plane,
    /// Blue-difference chroma.
    pub cb: Plane,
    /// Red-difference chroma.
    pub cr: Plane,
}

/// scikit-image's `ycbcr_from_rgb` (BT.601 studio range), applied to RGB in [0, 1].
const YCBCR_FROM_RGB: [[f64; 3]; 3] = [
    [65.481, 128.553, 24.966],
    [-37.797, -74.203, 112.0],
    [112.0, -93.786, -18.214],
];
const YCBCR_OFFSET: [f64; 3] = [16.0, 128.0, 128.0];

/// `skimage.color.rgb2ycbcr(rgb / 255)`, for RGB in [0, 255] (skimage scales uint8
/// input to [0, 1] itself, so this equals `rgb2ycbcr` of the 8-bit image).
pub fn rgb_to_ycbcr(rgb: &Rgb) -> YCbCr {
    let [y, cb, cr] = transform(
        [&rgb.r, &rgb.g, &rgb.b],
        |_, v| v / 255.0,
        &YCBCR_FROM_RGB,
        |c, v| v + YCBCR_OFFSET[c],
    );
    YCbCr { y, cb, cr }
}

/// `255 · skimage.color.ycbcr2rgb(ycbcr)`: RGB in [0, 255] (not clipped; see
/// [`Plane::quantized_u8`]), through the inverse of the same matrix as skimage.
pub fn ycbcr_to_rgb(ycc: &YCbCr) -> Rgb {
    let [r, g, b] = transform(
        [&ycc.y, &ycc.cb, &ycc.cr],
        |c, v| v - YCBCR_OFFSET[c],
        &inverse3(&YCBCR_FROM_RGB),
        |_, v| 255.0 * v,
    );
    Rgb { r, g, b }
}

/// out_c = post(c, Σ_k m[c][k] · pre(k, in_k)), per pixel, in f64.
fn transform(
    input: [&Plane; 3],
    pre: impl Fn(usize, f64) -> f64,
    m: &[[f64; 3]; 3],
    post: impl Fn(usize, f64) -> f64,
) -> [Plane; 3] {
    let (w, h) = (input[0].width, input[0].height);
    assert!(
        input.iter().all(|p| p.width == w && p.height == h),
        "three planes of one size"
    );
    let mut out = [(); 3].map(|_| Vec::with_capacity(w * h));
    for i in 0..w * h {
        let v: [f64; 3] = std::array::from_fn(|k| pre(k, f64::from(input[k].data[i])));
        for (c, o) in out.iter_mut().enumerate() {
            let s = m[c][0] * v[0] + m[c][1] * v[1] + m[c][2] * v[2];
            o.push(post(c, s) as f32);
        }
    }
    out.map(|d| Plane::new(w, h, d))
}

fn inverse3(m: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let cof = |r: usize, c: usize| {
        let (r1, r2) = ((r + 1) % 3, (r + 2) % 3);
        let (c1, c2) = ((c + 1) % 3, (c + 2) % 3);
        m[r1][c1] * m[r2][c2] - m[r1][c2] * m[r2][c1]
    };
    let det = m[0][0] * cof(0, 0) + m[0][1] * cof(0, 1) + m[0][2] * cof(0, 2);
    let mut inv = [[0.0; 3]; 3];
    for (r, row) in inv.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            *v = cof(c, r) / det;
        }
    }
    inv
}

/// MATLAB's `imresize(p, [out_h out_w], 'bicubic')` on a double image: no rounding,
/// no clipping (values may overshoot the input's range; [`Plane::quantized_u8`] when an
/// 8-bit result is wanted).
///
/// Per dimension with scale s = out/in: output pixel x (1-based) samples the input at
/// u = x/s + ½(1 − 1/s) with Keys' cubic (a = −½); when s < 1 the kernel is widened to
/// 4/s taps and scaled by s (antialiasing); weights are normalised to sum 1; indices
/// outside the image are mirrored symmetrically (… 2 1 | 1 2 … n | n n−1 …). The two
/// passes run in f64, along the dimension with the smaller scale first and along the
/// height first on a tie, as MATLAB does (exactly the passes commute; the order only
/// changes rounding).
///
/// # Panics
/// When the input or the output is empty.
pub fn resize_bicubic(p: &Plane, out_w: usize, out_h: usize) -> Plane {
    assert!(
        p.width > 0 && p.height > 0 && out_w > 0 && out_h > 0,
        "resizing {}×{} to {out_w}×{out_h}",
        p.width,
        p.height
    );
    let scale_w = out_w as f64 / p.width as f64;
    let scale_h = out_h as f64 / p.height as f64;
    let data: Vec<f64> = p.data.iter().map(|&v| f64::from(v)).collect();
    let along_width = |d: &[f64], h: usize| {
        let taps = contributions(p.width, out_w);
        let mut out = Vec::with_capacity(out_w * h);
        for row in d.chunks_exact(p.width) {
            out.extend(
                taps.iter()
                    .map(|t| t.iter().map(|&(i, w)| w * row[i]).sum::<f64>()),
            );
        }
        out
    };
    let along_height = |d: &[f64], w: usize| {
        let taps = contributions(p.height, out_h);
        let mut out = vec![0.0; w * out_h];
        for (o, t) in out.chunks_exact_mut(w).zip(&taps) {
            for &(i, wt) in t {
                for (ov, &iv) in o.iter_mut().zip(&d[i * w..(i + 1) * w]) {
                    *ov += wt * iv;
                }
            }
        }
        out
    };
    let out = if scale_w < scale_h {
        along_height(&along_width(&data, p.height), out_w)
    } else {
        along_width(&along_height(&data, p.width), out_h)
    };
    Plane::new(out_w, out_h, out.into_iter().map(|v| v as f32).collect())
}

/// MATLAB `imresize`'s `contributions`: for each output index, the (0-based input
/// index, weight) pairs.
fn contributions(in_len: usize, out_len: usize) -> Vec<Vec<(usize, f64)>> {
    let scale = out_len as f64 / in_len as f64;
    let (kernel_width, shrink) = if scale < 1.0 {
        (4.0 / scale, scale)
    } else {
        (4.0, 1.0)
    };
    let taps = kernel_width.ceil() as i64 + 2;
    (1..=out_len)
        .map(|x| {
            let u = x as f64 / scale + 0.5 * (1.0 - 1.0 / scale);
            let left = (u - kernel_width / 2.0).floor() as i64;
            let mut t: Vec<(usize, f64)> = (left..left + taps)
                .map(|j| {
                    (
                        mirror(j - 1, in_len),
                        shrink * cubic(shrink * (u - j as f64)),
                    )
                })
                .collect();
            let sum: f64 = t.iter().map(|&(_, w)| w).sum();
            for (_, w) in &mut t {
                *w /= sum;
            }
            t
        })
        .collect()
}

/// Keys' cubic convolution kernel with a = −½ (Keys 1981, as in MATLAB's `cubic`).
fn cubic(x: f64) -> f64 {
    let a = x.abs();
    let (a2, a3) = (a * a, a * a * a);
    if a <= 1.0 {
        1.5 * a3 - 2.5 * a2 + 1.0
    } else if a <= 2.0 {
        -0.5 * a3 + 2.5 * a2 - 4.0 * a + 2.0
    } else {
        0.0
    }
}

/// A 0-based index mirrored into `0..n` by half-sample symmetry (d c b a | a b c d |
/// d c b a): MATLAB's symmetric padding and scipy.ndimage's mode 'reflect'.
fn mirror(i: i64, n: usize) -> usize {
    let period = 2 * n as i64;
    let m = i.rem_euclid(period) as usize;
    if m < n { m } else { 2 * n - 1 - m }
}

fn shaved(p: &Plane, shave: usize) -> Plane {
    let (w, h) = (
        p.width.saturating_sub(2 * shave),
        p.height.saturating_sub(2 * shave),
    );
    p.crop(shave.min(p.width), shave.min(p.height), w, h)
}

fn assert_same_size(a: &Plane, b: &Plane) {
    assert!(
        a.width == b.width && a.height == b.height,
        "comparing a {}×{} plane with a {}×{} one",
        a.width,
        a.height,
        b.width,
        b.height
    );
}

/// Peak signal-to-noise ratio in dB for values in [0, 255] (data range 255), after
/// removing `shave` pixels from every side: skimage's `peak_signal_noise_ratio`.
/// Infinite for identical planes.
///
/// # Panics
/// When the planes differ in size.
pub fn psnr(a: &Plane, b: &Plane, shave: usize) -> f64 {
    assert_same_size(a, b);
    let (a, b) = (shaved(a, shave), shaved(b, shave));
    let se: f64 = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum();
    let mse = se / a.data.len() as f64;
    if mse == 0.0 {
        return f64::INFINITY;
    }
    10.0 * (255.0f64 * 255.0 / mse).log10()
}

/// SSIM's Gaussian window: σ = 1.5 truncated at 3.5σ, radius int(3.5·1.5 + 0.5) = 5,
/// i.e. Wang et al.'s 11×11 window, as skimage sets it.
const SSIM_SIGMA: f64 = 1.5;
const SSIM_RADIUS: usize = 5;

/// Structural similarity of values in [0, 255], after removing `shave` pixels from
/// every side: `skimage.metrics.structural_similarity(a, b, data_range=255,
/// gaussian_weights=True, sigma=1.5, use_sample_covariance=False)` (Wang et al. 2004).
///
/// Local statistics come from scipy's `gaussian_filter` (mode 'reflect', the window
/// above, rows then columns, in f64); the SSIM map is averaged after dropping the
/// window radius (5 pixels) on every side. NaN when the shaved planes are narrower or
/// shorter than the 11-pixel window (skimage refuses them).
///
/// # Panics
/// When the planes differ in size.
pub fn ssim(a: &Plane, b: &Plane, shave: usize) -> f64 {
    assert_same_size(a, b);
    let (a, b) = (shaved(a, shave), shaved(b, shave));
    let (w, h) = (a.width, a.height);
    let win = 2 * SSIM_RADIUS + 1;
    if w < win || h < win {
        return f64::NAN;
    }
    let x: Vec<f64> = a.data.iter().map(|&v| f64::from(v)).collect();
    let y: Vec<f64> = b.data.iter().map(|&v| f64::from(v)).collect();
    let product =
        |p: &[f64], q: &[f64]| -> Vec<f64> { p.iter().zip(q).map(|(u, v)| u * v).collect() };
    let blur = |d: &[f64]| gaussian_filter(d, w, h);
    let (ux, uy) = (blur(&x), blur(&y));
    let uxx = blur(&product(&x, &x));
    let uyy = blur(&product(&y, &y));
    let uxy = blur(&product(&x, &y));
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let pad = SSIM_RADIUS;
    let mut sum = 0.0;
    for row in pad..h - pad {
        for i in row * w + pad..row * w + w - pad {
            let (mx, my) = (ux[i], uy[i]);
            let vx = uxx[i] - mx * mx;
            let vy = uyy[i] - my * my;
            let vxy = uxy[i] - mx * my;
            let num = (2.0 * mx * my + c1) * (2.0 * vxy + c2);
            let den = (mx * mx + my * my + c1) * (vx + vy + c2);
            sum += num / den;
        }
    }
    sum / ((w - 2 * pad) * (h - 2 * pad)) as f64
}

/// scipy.ndimage's `gaussian_filter(d, 1.5, mode='reflect', truncate=3.5)` on a w×h
/// row-major plane: along axis 0 (down the columns), then axis 1 (along the rows).
fn gaussian_filter(d: &[f64], w: usize, h: usize) -> Vec<f64> {
    let r = SSIM_RADIUS as i64;
    let mut k: Vec<f64> = (-r..=r)
        .map(|x| (-0.5 / (SSIM_SIGMA * SSIM_SIGMA) * (x * x) as f64).exp())
        .collect();
    let total: f64 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= total);
    let mut cols = vec![0.0; w * h];
    for y in 0..h {
        for (j, &kw) in k.iter().enumerate() {
            let src = mirror(y as i64 + j as i64 - r, h);
            let (o, s) = (&mut cols[y * w..(y + 1) * w], &d[src * w..(src + 1) * w]);
            o.iter_mut().zip(s).for_each(|(o, s)| *o += kw * s);
        }
    }
    let mut out = vec![0.0; w * h];
    for (o, row) in out.chunks_exact_mut(w).zip(cols.chunks_exact(w)) {
        for (x, ov) in o.iter_mut().enumerate() {
            *ov = k
                .iter()
                .enumerate()
                .map(|(j, &kw)| kw * row[mirror(x as i64 + j as i64 - r, w)])
                .sum();
        }
    }
    out
}

/// PSNR and SSIM of a super-resolved Y against the original.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SrScore {
    /// [`psnr`], dB.
    pub psnr_db: f64,
    /// [`ssim`], in [−1, 1].
    pub ssim: f64,
}

/// Scores a super-resolved Y plane (values in [0, 255]) against the high-resolution Y:
/// the estimate is first [`Plane::quantized_u8`] (what a saved 8-bit result would
/// hold), and [`SCALE`] pixels are shaved from every side. The one place the
/// evaluation convention lives: the network and the bicubic baseline both go through it.
///
/// # Panics
/// When the planes differ in size.
pub fn score_y(sr_y: &Plane, hr_y: &Plane) -> SrScore {
    let sr = sr_y.quantized_u8();
    SrScore {
        psnr_db: psnr(&sr, hr_y, SCALE),
        ssim: ssim(&sr, hr_y, SCALE),
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
        .filter(|p| {
            p.is_file()
                && p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str())
                })
        })
        .collect();
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

fn load_all(files: &[PathBuf]) -> Result<Vec<(String, Rgb)>> {
    files
        .iter()
        .map(|f| {
            let rgb = load_rgb(f)?.crop_to_multiple(SCALE);
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
    fn constant_planes_stay_constant_under_resize() {
        let p = Plane::filled(13, 9, 77.25);
        for (w, h) in [(6, 4), (26, 18), (5, 20), (13, 9), (1, 1)] {
            let r = resize_bicubic(&p, w, h);
            assert_eq!((r.width, r.height), (w, h));
            assert!(
                r.data.iter().all(|&v| (v - 77.25).abs() < 1e-4),
                "{w}×{h}: {r:?}"
            );
        }
    }

    #[test]
    fn a_smooth_ramp_survives_down_and_up() {
        let p = ramp(40, 30);
        let down = resize_bicubic(&p, 20, 15);
        let up = resize_bicubic(&down, 40, 30);
        // A linear ramp is reproduced exactly away from the mirrored borders.
        let inner = |q: &Plane| shaved(q, 8).data;
        for (a, b) in inner(&up).iter().zip(inner(&p)) {
            assert!((a - b).abs() < 1e-3, "{a} vs {b}");
        }
        assert!(psnr(&up, &p, 0) > 40.0, "{}", psnr(&up, &p, 0));
    }

    #[test]
    fn downscaling_by_two_averages_pixel_pairs_on_a_ramp() {
        // LR pixel i sits over HR pixels 2i and 2i + 1: on a ramp it is their mean.
        let p = ramp(16, 16);
        let d = resize_bicubic(&p, 8, 8);
        let want = (p.at(6, 8) + p.at(7, 8) + p.at(6, 9) + p.at(7, 9)) / 4.0;
        assert!((d.at(3, 4) - want).abs() < 1e-4, "{} vs {want}", d.at(3, 4));
    }

    #[test]
    fn identical_planes_have_infinite_psnr_and_unit_ssim() {
        let p = ramp(24, 20);
        assert_eq!(psnr(&p, &p, 2), f64::INFINITY);
        assert!((ssim(&p, &p, 2) - 1.0).abs() < 1e-12);
        assert!(
            ssim(&p, &p, 5).is_nan(),
            "14×10 is under the 11-pixel window"
        );
        let mut q = p.clone();
        q.data[5 * 24 + 5] += 10.0;
        let want = 10.0 * (255.0f64.powi(2) / (100.0 / 480.0)).log10();
        assert!((psnr(&p, &q, 0) - want).abs() < 1e-9);
        assert_eq!(
            psnr(&p, &q, 6),
            f64::INFINITY,
            "the change lies in the shaved border"
        );
    }

    #[test]
    fn colour_round_trips_and_grey_has_neutral_chroma() {
        let rgb = Rgb {
            r: Plane::new(2, 1, vec![0.0, 255.0]),
            g: Plane::new(2, 1, vec![128.0, 255.0]),
            b: Plane::new(2, 1, vec![255.0, 255.0]),
        };
        let ycc = rgb_to_ycbcr(&rgb);
        assert!((ycc.y.data[1] - 235.0).abs() < 1e-4);
        assert!((ycc.cb.data[1] - 128.0).abs() < 1e-4 && (ycc.cr.data[1] - 128.0).abs() < 1e-4);
        let back = ycbcr_to_rgb(&ycc);
        for (a, b) in [(&back.r, &rgb.r), (&back.g, &rgb.g), (&back.b, &rgb.b)] {
            for (x, y) in a.data.iter().zip(&b.data) {
                assert!((x - y).abs() < 1e-3, "{x} vs {y}");
            }
        }
    }

    #[test]
    fn crops_keep_the_top_left_corner() {
        let p = ramp(7, 5);
        let c = crop_to_multiple(&p, 2);
        assert_eq!((c.width, c.height), (6, 4));
        assert_eq!(c.at(5, 3), p.at(5, 3));
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
        let f = dir.join("x.png");
        std::fs::write(&f, "not a png").unwrap();
        let err = load_rgb(&f).err().unwrap().to_string();
        assert!(err.contains("x.png"), "{err}");
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
