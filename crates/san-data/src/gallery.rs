//! Exported embeddings: the gallery index that `san embed` writes and `san search` reads
//! (one safetensors file), and plain `.npy` matrices.
//!
//! A gallery index holds, for `N` clips with up to `M` tokens of dimension `D`:
//!
//! | tensor | dtype | shape | content |
//! |---|---|---|---|
//! | `video` | F32 | `[N, D]` | pooled clip embeddings |
//! | `text` | F32 | `[N, D]` | pooled caption embeddings |
//! | `video_tokens` | F32 | `[N, M, D]` | clip tokens (padded to the longest clip) |
//! | `video_mask` | U8 | `[N, M]` | 1 for real tokens |
//!
//! and the metadata `format` ([`INDEX_FORMAT`]), `names` and `captions` (JSON lists of `N`
//! strings) and `tau_tok`.

use std::collections::HashMap;
use std::path::Path;

use safetensors::Dtype;
use safetensors::tensor::TensorView;

use crate::error::{DataError, Result};
use crate::io::{read, write_atomic};

/// Format tag of a gallery index in the safetensors metadata.
pub const INDEX_FORMAT: &str = "san-gallery-1";

/// A gallery index in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct GalleryIndex {
    /// Pooled clip embeddings, `[N, D]` row-major.
    pub video: Vec<f32>,
    /// Pooled caption embeddings, `[N, D]` row-major.
    pub text: Vec<f32>,
    /// Clip tokens, `[N, M, D]` row-major.
    pub tokens: Vec<f32>,
    /// `[N, M]`, true for real tokens.
    pub mask: Vec<bool>,
    /// `[N, M, D]`.
    pub shape: [usize; 3],
    /// Clip names, `N`.
    pub names: Vec<String>,
    /// Captions, `N`.
    pub captions: Vec<String>,
    /// The token temperature the model scores with.
    pub tau_tok: f64,
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Writes `index` to `path` (temporary name, then renamed). Errors name the file.
pub fn write_gallery(path: &Path, index: &GalleryIndex) -> Result<()> {
    let [n, m, d] = index.shape;
    let bad = |what: String| DataError::invalid(path, what);
    if index.video.len() != n * d
        || index.text.len() != n * d
        || index.tokens.len() != n * m * d
        || index.mask.len() != n * m
        || index.names.len() != n
        || index.captions.len() != n
    {
        return Err(bad(format!(
            "gallery index of inconsistent sizes for [N, M, D] = {:?}",
            index.shape
        )));
    }
    let (vb, tb, kb) = (
        f32_bytes(&index.video),
        f32_bytes(&index.text),
        f32_bytes(&index.tokens),
    );
    let mb: Vec<u8> = index.mask.iter().map(|&b| u8::from(b)).collect();
    let view = |dtype, shape: Vec<usize>, data| {
        TensorView::new(dtype, shape, data).map_err(|e| bad(format!("tensor: {e}")))
    };
    let tensors = vec![
        ("video", view(Dtype::F32, vec![n, d], &vb)?),
        ("text", view(Dtype::F32, vec![n, d], &tb)?),
        ("video_tokens", view(Dtype::F32, vec![n, m, d], &kb)?),
        ("video_mask", view(Dtype::U8, vec![n, m], &mb)?),
    ];
    let json = |v: &[String]| serde_json::to_string(v).map_err(|e| bad(format!("metadata: {e}")));
    let meta = HashMap::from([
        ("format".to_string(), INDEX_FORMAT.to_string()),
        ("names".to_string(), json(&index.names)?),
        ("captions".to_string(), json(&index.captions)?),
        ("tau_tok".to_string(), index.tau_tok.to_string()),
    ]);
    let data = safetensors::serialize(tensors, Some(meta)).map_err(|e| bad(e.to_string()))?;
    write_atomic(path, &data)
}

/// Reads a gallery index written by [`write_gallery`]. Every size is checked against the
/// others before anything is returned; errors name the file and what was expected.
pub fn read_gallery(path: &Path) -> Result<GalleryIndex> {
    let bytes = read(path)?;
    let bad = |what: String| DataError::invalid(path, what);
    let expected = "expected a safetensors gallery index from `san embed`";
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| bad(format!("{expected}: {e}")))?;
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| bad(format!("{expected}: {e}")))?;
    let info = meta.metadata().clone().unwrap_or_default();
    if info.get("format").map(String::as_str) != Some(INDEX_FORMAT) {
        return Err(bad(format!(
            "expected a gallery index written by `san embed` (format {INDEX_FORMAT})"
        )));
    }
    let tensor = |name: &str| {
        st.tensor(name)
            .map_err(|e| bad(format!("expected tensor {name}: {e}")))
    };
    let (tokens, mask) = (tensor("video_tokens")?, tensor("video_mask")?);
    let shape: [usize; 3] = tokens.shape().try_into().map_err(|_| {
        bad(format!(
            "expected video_tokens [N, M, D], got {:?}",
            tokens.shape()
        ))
    })?;
    let list = |key: &str| -> Result<Vec<String>> {
        serde_json::from_str(info.get(key).map_or("[]", String::as_str)).map_err(|e| {
            bad(format!(
                "expected the {key} as a JSON list in the metadata: {e}"
            ))
        })
    };
    let (names, captions) = (list("names")?, list("captions")?);
    let [n, m, d] = shape;
    if tokens.dtype() != Dtype::F32 || mask.shape() != [n, m] || names.len() != n {
        return Err(bad(format!(
            "expected f32 video_tokens [N, M, D], video_mask [N, M] and N names; got {:?}, {:?} and {} names",
            tokens.shape(),
            mask.shape(),
            names.len()
        )));
    }
    let floats = |name: &str, len: usize| -> Result<Vec<f32>> {
        let t = tensor(name)?;
        if t.dtype() != Dtype::F32 || t.shape().iter().product::<usize>() != len {
            return Err(bad(format!(
                "expected f32 {name} of {len} values, got {:?} {:?}",
                t.dtype(),
                t.shape()
            )));
        }
        Ok(t.data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    };
    let tau_tok = info
        .get("tau_tok")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0.07);
    Ok(GalleryIndex {
        video: floats("video", n * d)?,
        text: floats("text", n * d)?,
        tokens: floats("video_tokens", n * m * d)?,
        mask: mask.data().iter().map(|&b| b != 0).collect(),
        shape,
        names,
        captions,
        tau_tok,
    })
}

/// Writes a float32 `.npy` array of `shape` (temporary name, then renamed).
pub fn write_npy(path: &Path, values: &[f32], shape: &[u64]) -> Result<()> {
    use npyz::WriterBuilder;
    let bad = |e: std::io::Error| DataError::io(path, e);
    let mut buf = Vec::new();
    {
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(shape)
            .writer(&mut buf)
            .begin_nd()
            .map_err(bad)?;
        w.extend(values.iter().copied()).map_err(bad)?;
        w.finish().map_err(bad)?;
    }
    write_atomic(path, &buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> GalleryIndex {
        GalleryIndex {
            video: vec![1.0, 0.0, 0.0, 1.0],
            text: vec![0.5, 0.5, -0.5, 0.5],
            tokens: (0..12).map(|i| i as f32).collect(),
            mask: vec![true, true, false, true, false, false],
            shape: [2, 3, 2],
            names: vec!["a".into(), "b".into()],
            captions: vec!["regen im nord".into(), "sonne".into()],
            tau_tok: 0.07,
        }
    }

    #[test]
    fn a_gallery_index_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.safetensors");
        write_gallery(&path, &index()).unwrap();
        assert_eq!(read_gallery(&path).unwrap(), index());
    }

    #[test]
    fn inconsistent_and_foreign_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.safetensors");
        let mut bad = index();
        bad.names.pop();
        let e = write_gallery(&path, &bad).unwrap_err().to_string();
        assert!(
            e.contains("g.safetensors") && e.contains("inconsistent"),
            "{e}"
        );
        std::fs::write(&path, b"not safetensors").unwrap();
        let e = read_gallery(&path).unwrap_err().to_string();
        assert!(
            e.contains("g.safetensors") && e.contains("san embed"),
            "{e}"
        );
    }

    #[test]
    fn npy_header_and_values_by_hand() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        write_npy(&path, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        // NumPy format 1.0: magic, version (2 bytes), header length (u16 LE), the header
        // dict, then the values row-major.
        assert_eq!(&bytes[..6], b"\x93NUMPY");
        let start = 10 + usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
        let header = String::from_utf8_lossy(&bytes[10..start]);
        assert!(
            header.contains("'shape': (2, 3") && header.contains("<f4"),
            "{header}"
        );
        assert_eq!(&bytes[start..start + 4], &1.0f32.to_le_bytes());
        assert_eq!(&bytes[start + 20..], &6.0f32.to_le_bytes());
    }
}
