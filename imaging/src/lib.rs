//! Images for ×2 super-resolution on luminance, in plain `Vec<f32>`: reading and
//! writing PNG/JPEG, the colour transform, MATLAB's bicubic resize and the PSNR/SSIM
//! metrics.
//!
//! It needs no libtorch, so the host (training and scoring in `supernet`, `moga sr
//! upscale`) and the phone (`device-runner exec --input x.png --output-png y.png`)
//! prepare and finish images with the same code.
//!
//! Every piece follows the reference that super-resolution papers report against, so
//! that a figure computed here can be set beside a published one:
//!
//! - colour: scikit-image's `rgb2ycbcr`/`ycbcr2rgb` (ITU-R BT.601 studio range,
//!   Y in [16, 235]), on values in [0, 255] ([`rgb_to_ycbcr`], [`ycbcr_to_rgb`]);
//! - resizing: MATLAB's `imresize(…, 'bicubic')`, with its antialiasing when shrinking
//!   and its symmetric padding ([`resize_bicubic`]); low-resolution inputs are the
//!   bicubic ×1/2 of the high-resolution Y, computed in floating point (SRCNN's
//!   protocol), never rounded;
//! - metrics: scikit-image's `peak_signal_noise_ratio` and `structural_similarity` with
//!   Wang et al.'s Gaussian window, on Y in [0, 255] after shaving a border ([`psnr`],
//!   [`ssim`], [`score_y`]).
//!
//! `scripts/sr_metrics_check.py` computes the same quantities with scikit-image and a
//! NumPy transcription of `imresize`; `supernet/tests/sr_image.rs` holds them equal.

#![warn(missing_docs)]

mod color;
mod error;
mod metrics;
mod resize;

use std::path::Path;

pub use color::{YCbCr, rgb_to_ycbcr, ycbcr_to_rgb};
pub use error::{Error, Result};
pub use metrics::{SCALE, SrScore, psnr, score_y, ssim};
pub use resize::resize_bicubic;

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

/// [`Plane::quantized_u8`] of one value as a byte (NaN becomes 0).
fn to_u8(v: f32) -> u8 {
    v.clamp(0.0, 255.0).round() as u8
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

/// Whether `path` names a PNG or JPEG by its extension (`.png`, `.jpg`, `.jpeg`, any
/// case): how image folders are listed and how the runner tells an image input from a
/// tensor file. ([`load_rgb`] itself goes by the bytes.)
pub fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str()))
}

/// Reads a PNG or JPEG as values in [0, 255]: greyscale is replicated to three
/// channels, alpha is dropped, 16-bit images are scaled to 8 bits. The format comes
/// from the bytes, not the extension.
pub fn load_rgb(path: &Path) -> Result<Rgb> {
    let io = |error| Error::Io {
        path: path.to_path_buf(),
        error,
    };
    let img = image::io::Reader::open(path)
        .map_err(io)?
        .with_guessed_format()
        .map_err(io)?
        .decode()
        .map_err(|e| match e {
            image::ImageError::IoError(error) => io(error),
            e => Error::Decode {
                path: path.to_path_buf(),
                message: e.to_string(),
            },
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

/// Writes `rgb` as an 8-bit RGB PNG, each value [`Plane::quantized_u8`] (clipped to
/// [0, 255], rounded; NaN written as 0), atomically: a reader of `path` sees the old file or the whole
/// new one ([`lookup_tables::write_atomic`]: a temporary file in the same folder, then
/// a rename).
///
/// # Panics
/// When the three planes differ in size.
pub fn save_rgb_png(rgb: &Rgb, path: &Path) -> Result<()> {
    let (w, h) = (rgb.width(), rgb.height());
    assert!(
        [&rgb.g, &rgb.b]
            .iter()
            .all(|p| p.width == w && p.height == h),
        "three planes of one size"
    );
    let encode = |message: String| Error::Encode {
        path: path.to_path_buf(),
        message,
    };
    let (Ok(w32), Ok(h32)) = (u32::try_from(w), u32::try_from(h)) else {
        return Err(encode(format!("{w}×{h} pixels is too large")));
    };
    let mut pixels = Vec::with_capacity(3 * w * h);
    for i in 0..w * h {
        pixels.extend([&rgb.r, &rgb.g, &rgb.b].map(|p| to_u8(p.data[i])));
    }
    use image::ImageEncoder as _;
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(&pixels, w32, h32, image::ColorType::Rgb8)
        .map_err(|e| encode(e.to_string()))?;
    lookup_tables::write_atomic(path, &bytes).map_err(|e| match e {
        lookup_tables::Error::Io { path, error } => Error::Io { path, error },
        e => Error::Io {
            path: path.to_path_buf(),
            error: std::io::Error::other(e.to_string()),
        },
    })
}

#[cfg(test)]
pub(crate) mod testing {
    use super::Plane;

    /// A linear ramp from 40, rising 1.5 per column and 2 per row.
    pub fn ramp(w: usize, h: usize) -> Plane {
        let data = (0..w * h)
            .map(|i| 40.0 + 1.5 * (i % w) as f32 + 2.0 * (i / w) as f32)
            .collect();
        Plane::new(w, h, data)
    }

    /// An empty scratch folder for one test.
    pub fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("moga-imaging-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{ramp, scratch};
    use super::*;

    #[test]
    fn crops_keep_the_top_left_corner() {
        let p = ramp(7, 5);
        let c = crop_to_multiple(&p, 2);
        assert_eq!((c.width, c.height), (6, 4));
        assert_eq!(c.at(5, 3), p.at(5, 3));
    }

    #[test]
    fn images_are_told_by_extension() {
        for (name, image) in [
            ("a.png", true),
            ("b.JPG", true),
            ("c.Jpeg", true),
            ("d.pb", false),
            ("png", false),
            ("e.png.pb", false),
        ] {
            assert_eq!(has_image_extension(Path::new(name)), image, "{name}");
        }
    }

    #[test]
    fn an_unreadable_image_is_named() {
        let dir = scratch("bad");
        let f = dir.join("x.png");
        std::fs::write(&f, "not a png").unwrap();
        let err = load_rgb(&f).err().unwrap().to_string();
        assert!(
            err.contains("x.png") && err.contains("not an image moga can read"),
            "{err}"
        );
        let missing = dir.join("missing.png");
        let err = load_rgb(&missing).err().unwrap();
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("missing.png"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn saved_pngs_are_rounded_clipped_and_read_back() {
        let dir = scratch("save");
        let f = dir.join("out.png");
        let rgb = Rgb {
            r: Plane::new(3, 2, vec![-4.0, 0.4, 0.5, 254.6, 300.0, f32::NAN]),
            g: Plane::new(3, 2, vec![10.0, 20.0, 30.0, 40.0, 50.0, 60.0]),
            b: Plane::filled(3, 2, 127.5),
        };
        std::fs::write(&f, "an older file").unwrap();
        save_rgb_png(&rgb, &f).unwrap();
        let back = load_rgb(&f).unwrap();
        assert_eq!(back.r.data, [0.0, 0.0, 1.0, 255.0, 255.0, 0.0]);
        assert_eq!(back.g, rgb.g);
        assert_eq!(back.b, Plane::filled(3, 2, 128.0));
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["out.png"], "no temporary file is left");
        let err = save_rgb_png(&rgb, &dir.join("no-such-dir/out.png"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no-such-dir"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
