//! RGB ↔ YCbCr exactly as scikit-image converts (ITU-R BT.601 studio range), so that Y
//! — what the networks see and what PSNR/SSIM are computed on — matches the papers'.

use crate::{Plane, Rgb};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
