//! MATLAB's `imresize(…, 'bicubic')`, transcribed: the resize that makes the
//! low-resolution inputs of every super-resolution benchmark and the bicubic baseline
//! they are compared with.

use crate::Plane;

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
pub(crate) fn mirror(i: i64, n: usize) -> usize {
    let period = 2 * n as i64;
    let m = i.rem_euclid(period) as usize;
    if m < n { m } else { 2 * n - 1 - m }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{psnr, shaved};
    use crate::testing::ramp;

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
}
