//! Named tensors on disk: every network and checkpoint of this crate (the classification
//! supernet, its optimiser state, super-resolution networks and supernets) is read and
//! written as safetensors here, and only here.

use std::collections::HashMap;
use std::path::Path;

use tch::Tensor;

use crate::error::{Error, Result};

/// Every tensor of the safetensors `file`, by name.
pub fn read(file: &Path) -> Result<HashMap<String, Tensor>> {
    let read = Tensor::read_safetensors(file).map_err(|e| {
        Error::Usage(format!(
            "{}: not a readable safetensors file ({e})",
            file.display()
        ))
    })?;
    Ok(read.into_iter().collect())
}

/// Copies into each of `params` the tensor of its name in `read` (what [`read`] gave for
/// `file`), which must be there with its shape (its element type is converted): `not_of`
/// says what a missing one means, `holder` who needs the shape.
pub fn copy_into<'a>(
    file: &Path,
    read: &HashMap<String, Tensor>,
    params: impl IntoIterator<Item = (&'a str, &'a mut Tensor)>,
    not_of: &str,
    holder: &str,
) -> Result<()> {
    let _g = tch::no_grad_guard();
    for (name, t) in params {
        let src = read.get(name).ok_or_else(|| {
            Error::Usage(format!("{}: no tensor {name} ({not_of})", file.display()))
        })?;
        if src.size() != t.size() {
            return Err(Error::Usage(format!(
                "{}: {name} has shape {:?}, {holder} needs {:?}",
                file.display(),
                src.size(),
                t.size()
            )));
        }
        t.copy_(src);
    }
    Ok(())
}

/// Writes named tensors to `path` through a temporary file in the same folder, synced
/// and renamed into place.
pub fn write_atomic(named: &[(String, Tensor)], path: &Path) -> Result<()> {
    // tch picks the format from the extension, so the temporary name keeps it.
    let tmp = path.with_extension(format!("tmp-{}.safetensors", std::process::id()));
    Tensor::write_safetensors(named, &tmp)
        .map_err(|e| Error::Usage(format!("{}: {e}", tmp.display())))?;
    let f = std::fs::File::open(&tmp).map_err(|e| Error::Io {
        path: tmp.clone(),
        error: e,
    })?;
    f.sync_all().map_err(|e| Error::Io {
        path: tmp.clone(),
        error: e,
    })?;
    std::fs::rename(&tmp, path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        error: e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_tensors_read_back_and_mismatches_are_named() {
        let dir = std::env::temp_dir().join(format!("moga-weights-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("w.safetensors");
        let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).reshape([2, 2]);
        write_atomic(&[("a".into(), a.shallow_clone())], &file).unwrap();
        let got = read(&file).unwrap();
        let mut into = Tensor::zeros([2, 2], (tch::Kind::Double, tch::Device::Cpu));
        copy_into(&file, &got, [("a", &mut into)], "?", "it").unwrap();
        assert_eq!(
            Vec::<f64>::try_from(into.flatten(0, 1)).unwrap(),
            [1.0, 2.0, 3.0, 4.0]
        );
        let mut wrong = Tensor::zeros([4], (tch::Kind::Float, tch::Device::Cpu));
        let e = copy_into(&file, &got, [("a", &mut wrong)], "?", "the net").unwrap_err();
        assert!(
            e.to_string()
                .contains("a has shape [2, 2], the net needs [4]"),
            "{e}"
        );
        let e = copy_into(&file, &got, [("b", &mut wrong)], "not ours", "it").unwrap_err();
        assert!(e.to_string().contains("no tensor b (not ours)"), "{e}");
        std::fs::write(&file, b"junk").unwrap();
        assert!(
            read(&file)
                .unwrap_err()
                .to_string()
                .contains("not a readable safetensors")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
