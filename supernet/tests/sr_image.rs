//! `supernet::sr_image` against its references: scikit-image's colour transform, PSNR
//! and SSIM, and a NumPy transcription of MATLAB's `imresize`, all computed by
//! `scripts/sr_metrics_check.py` in the venv that `scripts/setup.sh` makes. A missing
//! venv fails these tests (it does not skip them): the figures they guard are the ones
//! papers are compared with.

use std::path::{Path, PathBuf};
use std::process::Command;

use lookup_tables::SplitMix64;
use serde::Deserialize;
use supernet::sr_image::{
    Plane, Rgb, SCALE, SrPair, bicubic_baseline, load_rgb, psnr, resize_bicubic, rgb_to_ycbcr, ssim,
};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs the reference script and parses its JSON line as `T`.
fn reference<T: for<'de> Deserialize<'de>>(args: &[&str]) -> T {
    let python = repo().join(".deps/venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/setup.sh (it makes the venv with scikit-image)",
        python.display()
    );
    let out = Command::new(&python)
        .arg(repo().join("scripts/sr_metrics_check.py"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/setup.sh", python.display()));
    assert!(
        out.status.success(),
        "scripts/sr_metrics_check.py {args:?} failed (no scikit-image? run scripts/setup.sh):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "sr_metrics_check.py printed something else ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("sr_image-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 scratch path")
}

/// A smooth colour pattern plus noise; `noisier` adds a second, independent layer.
fn test_image(w: u32, h: u32, seed: u64, noisier: bool) -> image::RgbImage {
    let mut rng = SplitMix64::new(seed);
    let mut noise = |amp: f64| (rng.next_f64() - 0.5) * 2.0 * amp;
    image::RgbImage::from_fn(w, h, |x, y| {
        let base = [
            30.0 + 5.0 * f64::from(x),
            200.0 - 6.0 * f64::from(y),
            120.0 + 60.0 * (f64::from(x + y) / 6.0).sin(),
        ];
        image::Rgb(base.map(|b| {
            let v = b + noise(20.0) + if noisier { noise(25.0) } else { 0.0 };
            v.clamp(0.0, 255.0).round() as u8
        }))
    })
}

fn assert_plane_close(what: &str, ours: &Plane, theirs: &[Vec<f64>], tol: f64) {
    assert_eq!(theirs.len(), ours.height, "{what}: rows");
    let mut worst = 0.0f64;
    for (y, row) in theirs.iter().enumerate() {
        assert_eq!(row.len(), ours.width, "{what}: columns");
        for (x, &t) in row.iter().enumerate() {
            worst = worst.max((f64::from(ours.at(x, y)) - t).abs());
        }
    }
    assert!(
        worst <= tol,
        "{what}: off by up to {worst:e} (tolerance {tol:e})"
    );
}

#[derive(Deserialize)]
struct Metrics {
    ycbcr_a: Vec<Vec<Vec<f64>>>,
    ycbcr_b: Vec<Vec<Vec<f64>>>,
    psnr: Option<f64>,
    ssim: f64,
}

#[derive(Deserialize)]
struct Resized {
    out: Vec<Vec<Vec<f64>>>,
}

#[derive(Deserialize)]
struct Score {
    psnr: Option<f64>,
    ssim: f64,
}

fn assert_psnr_close(what: &str, ours: f64, theirs: Option<f64>, rel: f64) {
    let theirs = theirs.unwrap_or(f64::INFINITY);
    assert!(
        ours == theirs || ((ours - theirs) / theirs).abs() <= rel,
        "{what}: PSNR {ours} here, {theirs} in skimage"
    );
}

#[test]
fn colour_psnr_and_ssim_match_scikit_image() {
    let dir = scratch("metrics");
    let (a, b, grey) = (dir.join("a.png"), dir.join("b.png"), dir.join("grey.png"));
    test_image(37, 29, 1, false).save(&a).unwrap();
    test_image(37, 29, 1, true).save(&b).unwrap();
    image::DynamicImage::ImageRgb8(test_image(37, 29, 2, true))
        .to_luma8()
        .save(&grey)
        .unwrap();
    for (other, shave) in [(&b, 0), (&b, 2), (&grey, 3)] {
        let what = format!("a.png vs {} shaved by {shave}", other.display());
        let r: Metrics = reference(&[
            "metrics",
            path_str(&a),
            path_str(other),
            "--shave",
            &shave.to_string(),
        ]);
        let (ya, yb) = (
            rgb_to_ycbcr(&load_rgb(&a).unwrap()),
            rgb_to_ycbcr(&load_rgb(other).unwrap()),
        );
        for (ours, theirs, name) in [(&ya, &r.ycbcr_a, "a"), (&yb, &r.ycbcr_b, "b")] {
            for (p, t, c) in [
                (&ours.y, &theirs[0], "Y"),
                (&ours.cb, &theirs[1], "Cb"),
                (&ours.cr, &theirs[2], "Cr"),
            ] {
                assert_plane_close(&format!("{what}: {c} of {name}"), p, t, 1e-3);
            }
        }
        assert_psnr_close(&what, psnr(&ya.y, &yb.y, shave), r.psnr, 1e-6);
        let s = ssim(&ya.y, &yb.y, shave);
        assert!(
            (s - r.ssim).abs() <= 1e-5,
            "{what}: SSIM {s} here, {} in skimage",
            r.ssim
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A little-endian float64 `.npy` of a row-major plane (NPY format 1.0).
fn write_npy(path: &Path, p: &Plane) {
    let mut header = format!(
        "{{'descr': '<f8', 'fortran_order': False, 'shape': ({}, {}), }}",
        p.height, p.width
    );
    // Magic (6) + version (2) + length (2) + header, newline-terminated, to a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    for &v in &p.data {
        bytes.extend(f64::from(v).to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn bicubic_matches_matlab_imresize() {
    let dir = scratch("resize");
    let mut rng = SplitMix64::new(40);
    let plane = Plane::new(
        40,
        30,
        (0..1200).map(|_| (rng.next_f64() * 255.0) as f32).collect(),
    );
    let npy = dir.join("plane.npy");
    write_npy(&npy, &plane);
    // ×1/2 and ×2 (the SR pair), identity, and odd sizes that shrink one side and grow
    // the other (which also exercises the order of the passes).
    let sizes = [(20, 15), (40, 30), (23, 17), (57, 41), (13, 44), (81, 9)];
    let mut args = vec!["imresize".to_string(), path_str(&npy).to_string()];
    for (w, h) in sizes {
        args.extend([h.to_string(), w.to_string()]);
    }
    let r: Resized = reference(&args.iter().map(String::as_str).collect::<Vec<_>>());
    for ((w, h), theirs) in sizes.into_iter().zip(&r.out) {
        assert_plane_close(
            &format!("40×30 → {w}×{h}"),
            &resize_bicubic(&plane, w, h),
            theirs,
            1e-4,
        );
    }

    // Upscaling ×2 what was downscaled ×1/2, from the very same input on both sides.
    let down = resize_bicubic(&plane, 20, 15);
    write_npy(&npy, &down);
    let r: Resized = reference(&["imresize", path_str(&npy), "30", "40"]);
    assert_plane_close(
        "20×15 → 40×30",
        &resize_bicubic(&down, 40, 30),
        &r.out[0],
        1e-4,
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_bicubic_baseline_matches_on_scikit_image_photographs() {
    #[derive(Deserialize)]
    struct DataDir {
        folder: PathBuf,
    }
    let d: DataDir = reference(&["data-dir"]);
    // astronaut is colour, camera greyscale; coffee is 400×600 (not square).
    for name in ["astronaut.png", "camera.png", "coffee.png"] {
        let path = d.folder.join(name);
        let rgb: Rgb = load_rgb(&path).unwrap_or_else(|e| panic!("{e}: run scripts/setup.sh"));
        let ours = bicubic_baseline(&SrPair::new(name, &rgb));
        let theirs: Score =
            reference(&["baseline", path_str(&path), "--shave", &SCALE.to_string()]);
        assert_psnr_close(name, ours.psnr_db, theirs.psnr, 1e-6);
        assert!(
            (ours.ssim - theirs.ssim).abs() <= 1e-5,
            "{name}: SSIM {} here, {} by skimage",
            ours.ssim,
            theirs.ssim
        );
    }
}
