//! Precomputed clip features (`DESIGN.md` §4): one `[T, F]` array per video, as SAN, CiCo
//! and SEDS feed RGB (offline I3D features, 1024-d), in `.npy` or safetensors; and the
//! CiCo sampling to at most 64 clips.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::io::read;

/// Clips most videos are sampled to (CiCo).
pub const MAX_CLIPS: usize = 64;

/// A row-major float array with its shape, read from `.npy` or safetensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Array {
    /// Dimensions, slowest first.
    pub shape: Vec<usize>,
    /// Values in C (row-major) order, as `f32`.
    pub values: Vec<f32>,
}

/// Reads a `.npy` array of `f32` or `f64` (either byte order, C or Fortran layout) into
/// row-major `f32`.
pub fn read_npy(path: &Path) -> Result<Array> {
    parse_npy(&read(path)?, path)
}

/// Parses `.npy` bytes; `path` is used in errors only.
pub fn parse_npy(bytes: &[u8], path: &Path) -> Result<Array> {
    let bad = |what: String| DataError::invalid(path, what);
    // npyz allocates the header's declared length before reading it: check it against the
    // file first (versions 2 and 3 declare it in four bytes).
    if bytes.len() >= 10 && bytes.starts_with(b"\x93NUMPY") {
        let (start, len) = match (bytes[6], bytes.get(8..12)) {
            (1, _) => (10, usize::from(u16::from_le_bytes([bytes[8], bytes[9]]))),
            (_, Some(&[a, b, c, d])) => (12, u32::from_le_bytes([a, b, c, d]) as usize),
            // Versions 2 and 3 with the length field itself cut short: npyz reads no further
            // and says so.
            _ => (0, 0),
        };
        if len > bytes.len().saturating_sub(start) {
            return Err(bad(format!(
                "expected a .npy header of {len} bytes, the file has {} after byte {start}",
                bytes.len().saturating_sub(start)
            )));
        }
    }
    let file = npyz::NpyFile::new(bytes).map_err(|e| {
        bad(format!(
            "expected a .npy file (magic, version, header): {e}"
        ))
    })?;
    let shape: Vec<usize> = file.shape().iter().map(|&d| d as usize).collect();
    let fortran = file.order() == npyz::Order::Fortran;
    let dtype = file.dtype().descr();
    // The values are read into a vector sized by the header's shape: check that the file
    // can hold that many values (at least 4 bytes each) before anything is allocated.
    let numel = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    if numel.is_none_or(|n| n.saturating_mul(4) > bytes.len()) {
        return Err(bad(format!(
            "the header's shape {shape:?} needs more values than a {}-byte file holds",
            bytes.len()
        )));
    }
    let values: Vec<f32> = match file.try_data::<f32>() {
        Ok(data) => data.collect::<std::io::Result<Vec<f32>>>().map_err(|e| {
            bad(format!(
                "expected {} f32 values: {e}",
                shape.iter().product::<usize>()
            ))
        })?,
        Err(file) => match file.try_data::<f64>() {
            Ok(data) => data
                .collect::<std::io::Result<Vec<f64>>>()
                .map_err(|e| {
                    bad(format!(
                        "expected {} f64 values: {e}",
                        shape.iter().product::<usize>()
                    ))
                })?
                .into_iter()
                .map(|x| x as f32)
                .collect(),
            Err(_) => {
                return Err(bad(format!(
                    "expected a float32 or float64 array, got dtype {dtype}"
                )));
            }
        },
    };
    let values = if fortran && shape.len() > 1 {
        to_c_order(&values, &shape)
    } else {
        values
    };
    Ok(Array { shape, values })
}

/// Reorders column-major values of `shape` into row-major order.
fn to_c_order(values: &[f32], shape: &[usize]) -> Vec<f32> {
    let n = values.len();
    let mut out = vec![0.0; n];
    let mut index = vec![0usize; shape.len()];
    for (c, slot) in out.iter_mut().enumerate() {
        // Decompose the C-order position c, then address it in Fortran order.
        let mut rest = c;
        for (k, &d) in shape.iter().enumerate().rev() {
            index[k] = rest % d.max(1);
            rest /= d.max(1);
        }
        let mut f = 0;
        for (k, &d) in shape.iter().enumerate().rev() {
            f = f * d + index[k];
        }
        *slot = values[f];
    }
    out
}

/// Reads one tensor of a safetensors file as `f32`: the only tensor, or the one named
/// `name` when given. F32, F64, F16 and BF16 are accepted.
pub fn read_safetensors(path: &Path, name: Option<&str>) -> Result<Array> {
    let bytes = read(path)?;
    let bad = |what: String| DataError::invalid(path, what);
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| bad(format!("expected a safetensors file: {e}")))?;
    let names = st.names();
    let key = match name {
        Some(n) => n.to_string(),
        None if names.len() == 1 => names[0].to_string(),
        None => {
            let mut all: Vec<String> = names.iter().map(|s| s.to_string()).collect();
            all.sort_unstable();
            return Err(bad(format!(
                "expected exactly one tensor (or a name), got {}: {}",
                all.len(),
                all.join(", ")
            )));
        }
    };
    let view = st
        .tensor(&key)
        .map_err(|_| bad(format!("expected a tensor named {key:?}")))?;
    let data = view.data();
    use safetensors::Dtype;
    let values: Vec<f32> = match view.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32)
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16))
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
            .collect(),
        other => {
            return Err(bad(format!(
                "tensor {key:?}: expected F32, F64, F16 or BF16, got {other:?}"
            )));
        }
    };
    Ok(Array {
        shape: view.shape().to_vec(),
        values,
    })
}

/// IEEE half to single precision.
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let frac = u32::from(h & 0x3ff);
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: value = frac · 2^-24.
            let v = frac as f32 * f32::from_bits(0x3380_0000);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, _) => sign | 0x7fc0_0000,
        _ => sign | ((exp + 112) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

/// The clip features of one video, `[clips, dim]` row-major.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipFeatures {
    /// Clips (time steps).
    pub clips: usize,
    /// Features per clip.
    pub dim: usize,
    /// Values, `clips × dim`.
    pub values: Vec<f32>,
}

/// Reads a video's clip features from `.npy` or `.safetensors` (by extension). The array
/// must be `[T, F]` (a leading batch dimension of 1 is dropped), with `T ≥ 1`, finite
/// values, and `F == expected_dim` when given.
pub fn read_clip_features(path: &Path, expected_dim: Option<usize>) -> Result<ClipFeatures> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let mut array = match ext.as_str() {
        "npy" => read_npy(path)?,
        "safetensors" => read_safetensors(path, None)?,
        _ => {
            return Err(DataError::invalid(
                path,
                format!("expected a .npy or .safetensors file, got extension {ext:?}"),
            ));
        }
    };
    if array.shape.len() == 3 && array.shape[0] == 1 {
        array.shape.remove(0);
    }
    let [clips, dim] = array.shape[..] else {
        return Err(DataError::invalid(
            path,
            format!(
                "expected a [T, F] array of clip features, got shape {:?}",
                array.shape
            ),
        ));
    };
    if clips == 0 || dim == 0 {
        return Err(DataError::invalid(
            path,
            format!("expected at least one clip and one feature, got shape [{clips}, {dim}]"),
        ));
    }
    if let Some(want) = expected_dim
        && want != dim
    {
        return Err(DataError::invalid(
            path,
            format!("expected {want} features per clip (as the other videos), got {dim}"),
        ));
    }
    if let Some(i) = array.values.iter().position(|x| !x.is_finite()) {
        return Err(DataError::invalid(
            path,
            format!(
                "clip {}, feature {}: expected a finite value, got {}",
                i / dim,
                i % dim,
                array.values[i]
            ),
        ));
    }
    Ok(ClipFeatures {
        clips,
        dim,
        values: array.values,
    })
}

/// CiCo's clip indices: all `0..t` when `t ≤ max`; otherwise `max` indices from
/// `np.linspace(0, t - 1, max).astype(int)` (truncation, last index exactly `t - 1`).
pub fn linspace_indices(t: usize, max: usize) -> Vec<usize> {
    if t <= max {
        return (0..t).collect();
    }
    if max <= 1 {
        return vec![0; max];
    }
    let step = (t - 1) as f64 / (max - 1) as f64;
    let mut idx: Vec<usize> = (0..max).map(|k| (k as f64 * step) as usize).collect();
    idx[max - 1] = t - 1;
    idx
}

/// Samples `features` to exactly `max` rows as CiCo does: linspace indices when longer,
/// zero rows after the clips when shorter. Returns the `[max, dim]` values and a mask that
/// is true for real clips.
pub fn sample_clips(features: &ClipFeatures, max: usize) -> (Vec<f32>, Vec<bool>) {
    let d = features.dim;
    let idx = linspace_indices(features.clips, max);
    let mut values = vec![0.0; max * d];
    let mut mask = vec![false; max];
    for (row, &i) in idx.iter().enumerate() {
        values[row * d..(row + 1) * d].copy_from_slice(&features.values[i * d..(i + 1) * d]);
        mask[row] = true;
    }
    (values, mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version-1.0 `.npy` file with the given header dict and little-endian payload.
    fn npy(dict: &str, payload: &[u8]) -> Vec<u8> {
        let mut header = dict.to_string();
        while !(10 + header.len() + 1).is_multiple_of(64) {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn a_header_length_beyond_the_file_is_refused_before_reading() {
        // Version 3.0 declares the header's length in four bytes: here 0x277B_3F76
        // (662,388,598), in a 30-byte file. Found by the fuzz suite (a flipped version byte),
        // which saw npyz allocate that length.
        let mut bytes = b"\x93NUMPY\x03\x00".to_vec();
        bytes.extend_from_slice(&0x277B_3F76u32.to_le_bytes());
        bytes.extend_from_slice(&[b' '; 18]);
        let err = parse_npy(&bytes, Path::new("x.npy"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "x.npy: expected a .npy header of 662388598 bytes, the file has 18 after byte 12"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_header_shape_larger_than_the_file_is_refused_before_reading() {
        // 165 million values claimed, 8 present: found by the fuzz suite, which saw 662 MB
        // allocated for a 320-byte file.
        let bytes = npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (165000000,), }",
            &[0u8; 32],
        );
        let err = parse_npy(&bytes, Path::new("x.npy"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.npy"), "{err}");
        assert!(
            err.contains(
                "the header's shape [165000000] needs more values than a 160-byte file holds"
            ),
            "{err}"
        );
    }

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn npy_c_and_fortran_orders_give_the_same_rows() {
        let p = Path::new("x.npy");
        // [[1,2,3],[4,5,6]] stored row-major, and column-major (1,4,2,5,3,6).
        let c = npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
            &f32s(&[1., 2., 3., 4., 5., 6.]),
        );
        let f = npy(
            "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
            &f32s(&[1., 4., 2., 5., 3., 6.]),
        );
        let a = parse_npy(&c, p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (a.shape.clone(), a.values.clone()),
            (vec![2, 3], vec![1., 2., 3., 4., 5., 6.])
        );
        assert_eq!(parse_npy(&f, p).ok(), Some(a));
        let f8: Vec<u8> = [0.5f64, -2.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let d = npy(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
            &f8,
        );
        assert_eq!(
            parse_npy(&d, p).ok().map(|a| a.values),
            Some(vec![0.5, -2.0])
        );
    }

    #[test]
    fn bad_npy_names_the_file_and_what_was_expected() {
        let p = Path::new("feat/x.npy");
        let ints = npy(
            "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }",
            &[0, 0, 0, 0],
        );
        let err = parse_npy(&ints, p)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("feat/x.npy") && err.contains("float32 or float64"),
            "{err}"
        );
        let short = npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }",
            &f32s(&[1.0]),
        );
        let err = parse_npy(&short, p)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("feat/x.npy") && err.contains("expected 4 f32 values"),
            "{err}"
        );
        let err = parse_npy(b"not numpy", p)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("expected a .npy file"), "{err}");
    }

    #[test]
    fn reads_pose_formats_fortran_float64_reference_array() {
        let Some(path) = crate::shared_data("pose/optical_flow.npy") else {
            return;
        };
        let a = read_npy(&path).unwrap_or_else(|e| panic!("{e}"));
        // numpy: shape (169, 50) '<f8' Fortran; a.sum() = 1785230.3022502176;
        // a[1, :3] = [4.42369095, 13.30760036, 79.16685481]; a[168, 49] = 0.
        assert_eq!(a.shape, vec![169, 50]);
        let sum: f64 = a.values.iter().map(|&x| f64::from(x)).sum();
        assert!(
            (sum - 1_785_230.302_250_2).abs() / 1_785_230.3 < 1e-6,
            "{sum}"
        );
        let row1 = &a.values[50..53];
        for (x, want) in row1.iter().zip([4.423_691, 13.307_6, 79.166_855]) {
            assert!((x - want).abs() < 1e-4, "{row1:?}");
        }
        assert_eq!(a.values[168 * 50 + 49], 0.0);
    }

    #[test]
    fn linspace_matches_numpy() {
        // np.linspace(0, 9, 4).astype(int) = [0, 3, 6, 9];
        // np.linspace(0, 99, 64).astype(int)[:6] = [0, 1, 3, 4, 6, 7], [-1] = 99.
        assert_eq!(linspace_indices(10, 4), vec![0, 3, 6, 9]);
        let i = linspace_indices(100, 64);
        assert_eq!((&i[..6], i[63], i.len()), (&[0, 1, 3, 4, 6, 7][..], 99, 64));
        assert_eq!(linspace_indices(3, 64), vec![0, 1, 2]);
    }

    #[test]
    fn short_clips_are_zero_padded_and_masked() {
        let f = ClipFeatures {
            clips: 2,
            dim: 2,
            values: vec![1., 2., 3., 4.],
        };
        let (v, m) = sample_clips(&f, 4);
        assert_eq!(v, vec![1., 2., 3., 4., 0., 0., 0., 0.]);
        assert_eq!(m, vec![true, true, false, false]);
        let (v, m) = sample_clips(&f, 1);
        assert_eq!((v, m), (vec![1., 2.], vec![true]));
    }

    #[test]
    fn clip_feature_files_are_checked() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let good = dir.path().join("a.npy");
        std::fs::write(
            &good,
            npy(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3), }",
                &f32s(&[0.; 6]),
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let f = read_clip_features(&good, Some(3)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((f.clips, f.dim), (2, 3));
        let err = read_clip_features(&good, Some(1024))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("a.npy") && err.contains("expected 1024 features"),
            "{err}"
        );
        let nan = dir.path().join("b.npy");
        std::fs::write(
            &nan,
            npy(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
                &f32s(&[0., 0., f32::NAN, 0.]),
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let err = read_clip_features(&nan, None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("b.npy") && err.contains("clip 1, feature 0"),
            "{err}"
        );
        let err = read_clip_features(&dir.path().join("c.pt"), None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("c.pt") && err.contains(".npy or .safetensors"),
            "{err}"
        );
    }

    #[test]
    fn safetensors_features_in_each_float_type() {
        use safetensors::{Dtype, tensor::TensorView};
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("v.safetensors");
        // 1.5 as f16 is 0x3E00 and as bf16 0x3FC0 (IEEE layouts, by hand).
        let f32b = f32s(&[1.5, -2.0]);
        let f16b = [0x00u8, 0x3E, 0x00, 0xC0];
        let bf16b = [0xC0u8, 0x3F, 0x00, 0xC0];
        for (dtype, bytes) in [
            (Dtype::F32, &f32b[..]),
            (Dtype::F16, &f16b[..]),
            (Dtype::BF16, &bf16b[..]),
        ] {
            let view = TensorView::new(dtype, vec![1, 2], bytes).unwrap_or_else(|e| panic!("{e}"));
            safetensors::serialize_to_file([("features", view)], None, &path)
                .unwrap_or_else(|e| panic!("{e}"));
            let f = read_clip_features(&path, Some(2)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(f.values, vec![1.5, -2.0], "{dtype:?}");
        }
    }
}

/// A lazy dataset of clip-feature files, one per video; each read checks the feature
/// dimension against `dim`. Items are `Result`s, so a bad file is an error of its own;
/// visit them in [`crate::batch::epoch_order`] for a seeded shuffle.
#[derive(Debug, Clone)]
pub struct ClipFeatureFiles {
    /// One `.npy` or `.safetensors` file per video.
    pub paths: Vec<std::path::PathBuf>,
    /// Expected features per clip (e.g. 1024 for I3D); `None` accepts any.
    pub dim: Option<usize>,
}

impl burn_dataset::Dataset<crate::Result<ClipFeatures>> for ClipFeatureFiles {
    fn get(&self, index: usize) -> Option<crate::Result<ClipFeatures>> {
        self.paths
            .get(index)
            .map(|p| read_clip_features(p, self.dim))
    }

    fn len(&self) -> usize {
        self.paths.len()
    }
}

/// A padded batch of clip features, made by [`ClipBatcher`](crate::loader::ClipBatcher).
#[derive(Debug, Clone)]
pub struct ClipBatch<B: burn::tensor::backend::Backend> {
    /// `[B, max_clips, F]`, zero rows after each video's clips.
    pub features: burn::tensor::Tensor<B, 3>,
    /// `[B, max_clips]`, true for real clips.
    pub mask: burn::tensor::Tensor<B, 2, burn::tensor::Bool>,
}

#[cfg(test)]
mod batch_tests {
    use super::*;
    use burn_dataset::Dataset;

    #[test]
    fn file_dataset_is_lazy_and_shuffles_with_a_seed() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut paths = Vec::new();
        for i in 0..6 {
            let p = dir.path().join(format!("v{i}.safetensors"));
            let bytes: Vec<u8> = [i as f32, 0.0]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect();
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1, 2], &bytes)
                    .unwrap_or_else(|e| panic!("{e}"));
            safetensors::serialize_to_file([("x", view)], None, &p)
                .unwrap_or_else(|e| panic!("{e}"));
            paths.push(p);
        }
        paths.push(dir.path().join("missing.npy"));
        let ds = ClipFeatureFiles {
            paths,
            dim: Some(2),
        };
        assert_eq!(ds.len(), 7);
        let err = ds
            .get(6)
            .and_then(|r| r.err())
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("missing.npy"), "{err}");
        let order = |seed, epoch| {
            crate::batch::epoch_order(6, seed, epoch)
                .into_iter()
                .filter_map(|i| ds.get(i))
                .filter_map(|r| r.ok())
                .map(|f| f.values[0] as usize)
                .collect::<Vec<_>>()
        };
        assert_eq!(order(3, 0), order(3, 0), "seeded");
        assert_ne!(order(3, 0), order(3, 1), "a new order each epoch");
        let mut all = order(3, 0);
        all.sort_unstable();
        assert_eq!(all, (0..6).collect::<Vec<_>>());
    }
}
