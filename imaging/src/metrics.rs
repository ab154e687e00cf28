//! PSNR and SSIM on Y as scikit-image computes them, and the one scoring convention
//! (quantise, shave [`SCALE`] pixels) that every reported figure goes through.

use crate::Plane;
use crate::resize::mirror;

/// The upscaling factor: sizes are cropped to multiples of it, and [`score_y`] shaves
/// this many pixels from every side (the usual convention for ×2).
pub const SCALE: usize = 2;

/// `p` without `shave` pixels on every side (empty when nothing is left).
pub(crate) fn shaved(p: &Plane, shave: usize) -> Plane {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ramp;

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
}
