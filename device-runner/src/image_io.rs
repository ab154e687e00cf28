//! Images in and out of ×2 luminance super-resolution models, so that a phone can be
//! handed a photo and give one back: a PNG or JPEG input becomes its luminance
//! `[1, 1, H, W]` (Y / 255, the `sr_model` input), and the model's `[1, 1, 2H, 2W]`
//! output is recombined with the input's chroma, upscaled bicubically, into a colour
//! PNG. The colour transform and the resize are [`imaging`]'s, the same code that
//! `moga sr upscale` and the training data use on the host; an input is an image when
//! [`imaging::has_image_extension`] says so.

use std::path::{Path, PathBuf};

use imaging::{Plane, SCALE, YCbCr, resize_bicubic, rgb_to_ycbcr, save_rgb_png, ycbcr_to_rgb};

use crate::error::{Error, Result};
use crate::onnx::Tensor;

/// An image given as a model input, kept in YCbCr for recombining the model's output.
#[derive(Clone, Debug)]
pub struct ImageInput {
    /// The file it came from.
    pub path: PathBuf,
    /// Its colour, as [`imaging::rgb_to_ycbcr`] gives it (values in [0, 255]).
    pub ycc: YCbCr,
}

impl ImageInput {
    /// Reads a PNG or JPEG (greyscale replicated, alpha dropped).
    pub fn load(path: &Path) -> Result<ImageInput> {
        Ok(ImageInput {
            path: path.to_path_buf(),
            ycc: rgb_to_ycbcr(&imaging::load_rgb(path)?),
        })
    }

    /// The model input: Y / 255 as a float tensor `[1, 1, height, width]`.
    pub fn tensor(&self) -> Tensor {
        let y = &self.ycc.y;
        Tensor::f32(
            vec![1, 1, y.height, y.width],
            y.data.iter().map(|v| v / 255.0).collect(),
        )
    }

    /// Writes `output` (the tensor `name`), a ×[`SCALE`] luminance `[1, 1, 2H, 2W]` in
    /// [0, 1], as a colour PNG: Y = output · 255, Cb and Cr the input's resized by
    /// [`imaging::resize_bicubic`], back to RGB, rounded and clipped to 8 bits. Errors
    /// name the output's shape and the input image when the output is not that.
    pub fn save_upscaled(&self, name: &str, output: &Tensor, png: &Path) -> Result<()> {
        let (w, h) = (SCALE * self.ycc.y.width, SCALE * self.ycc.y.height);
        let want = [1, 1, h, w];
        if output.shape != want {
            return Err(Error::tensor(
                name,
                format!(
                    "shape {:?} is not the ×{SCALE} luminance {want:?} of {} ({}×{} pixels), \
                     so it cannot be written as {}",
                    output.shape,
                    self.path.display(),
                    self.ycc.y.width,
                    self.ycc.y.height,
                    png.display()
                ),
            ));
        }
        let values = output.to_f64().ok_or_else(|| {
            Error::tensor(
                name,
                format!(
                    "element type {} is not numeric, so it cannot be written as {}",
                    output.dtype(),
                    png.display()
                ),
            )
        })?;
        let y = Plane::new(w, h, values.iter().map(|&v| (255.0 * v) as f32).collect());
        let up = YCbCr {
            y,
            cb: resize_bicubic(&self.ycc.cb, w, h),
            cr: resize_bicubic(&self.ycc.cr, w, h),
        };
        Ok(save_rgb_png(&ycbcr_to_rgb(&up), png)?)
    }
}
