//! Reading a safetensors file of pretrained weights into host tensors by name: the part
//! the BERT and ResNet loaders share. Each loader maps the file's keys to its own parameter
//! names, then takes every parameter with a shape check; a key left over is an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};

use crate::error::ModelError;

/// What a key of the file becomes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// A known key the model does not use.
    Skip,
    /// The parameter of this (canonical) name.
    Param(String),
}

/// Host tensors by canonical name, with the file's key each came from.
pub(crate) struct Weights {
    path: PathBuf,
    tensors: BTreeMap<String, (String, Vec<usize>, Vec<f32>)>,
    key_of: fn(&str) -> String,
}

impl Weights {
    /// Reads `path`. `map` gives each key's target (`None`: an unknown key, an error);
    /// `key_of` names the file's key of a canonical name, for a missing-key error.
    pub(crate) fn read(
        path: &Path,
        map: impl Fn(&str) -> Option<Target>,
        key_of: fn(&str) -> String,
    ) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
            path: path.into(),
            source,
        })?;
        let format = |message: String| ModelError::Format {
            path: path.into(),
            message,
        };
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| format(format!("expected a safetensors file: {e}")))?;
        let mut tensors = BTreeMap::new();
        let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
        names.sort();
        for key in names {
            match map(&key) {
                None => {
                    return Err(ModelError::UnknownKey {
                        path: path.into(),
                        key,
                    });
                }
                Some(Target::Skip) => {}
                Some(Target::Param(name)) => {
                    let view = st
                        .tensor(&key)
                        .map_err(|e| format(format!("tensor {key:?}: {e}")))?;
                    let values = to_f32(view.dtype(), view.data()).ok_or_else(|| {
                        format(format!(
                            "tensor {key:?}: expected F32, F16, BF16 or F64, got {:?}",
                            view.dtype()
                        ))
                    })?;
                    tensors.insert(name, (key, view.shape().to_vec(), values));
                }
            }
        }
        Ok(Self {
            path: path.into(),
            tensors,
            key_of,
        })
    }

    /// Takes the values of `name` after checking its shape.
    pub(crate) fn take(&mut self, name: &str, expected: &[usize]) -> Result<Vec<f32>, ModelError> {
        let (key, shape, values) =
            self.tensors
                .remove(name)
                .ok_or_else(|| ModelError::MissingKey {
                    path: self.path.clone(),
                    key: (self.key_of)(name),
                })?;
        if shape != expected {
            return Err(ModelError::Shape {
                path: self.path.clone(),
                key,
                expected: expected.to_vec(),
                got: shape,
            });
        }
        Ok(values)
    }

    /// Takes `name` as a tensor of shape `dims` on `device`.
    pub(crate) fn tensor<B: Backend, const D: usize>(
        &mut self,
        name: &str,
        dims: [usize; D],
        device: &B::Device,
    ) -> Result<Tensor<B, D>, ModelError> {
        let values = self.take(name, &dims)?;
        Ok(Tensor::from_data(TensorData::new(values, dims), device))
    }

    /// Succeeds when every tensor read was taken; else names a key the model lacks.
    pub(crate) fn finish(self) -> Result<(), ModelError> {
        match self.tensors.into_values().next() {
            Some((key, _, _)) => Err(ModelError::UnknownKey {
                path: self.path,
                key,
            }),
            None => Ok(()),
        }
    }
}

/// Little-endian F32, F64, F16 or BF16 bytes as f32 values; `None` for other dtypes.
pub(crate) fn to_f32(dtype: Dtype, data: &[u8]) -> Option<Vec<f32>> {
    Some(match dtype {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32)
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_float_dtype_decodes_to_f32() {
        // 1.5 and -2.0 in each encoding (IEEE 754 bit patterns, little-endian).
        let f32b: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let f64b: Vec<u8> = [1.5f64, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let f16b = [0x00, 0x3E, 0x00, 0xC0]; // 0x3E00 = 1.5, 0xC000 = -2
        let bf16b = [0xC0, 0x3F, 0x00, 0xC0]; // 0x3FC0 = 1.5, 0xC000 = -2
        for (dtype, bytes) in [
            (Dtype::F32, &f32b[..]),
            (Dtype::F64, &f64b[..]),
            (Dtype::F16, &f16b[..]),
            (Dtype::BF16, &bf16b[..]),
        ] {
            assert_eq!(to_f32(dtype, bytes), Some(vec![1.5, -2.0]), "{dtype:?}");
        }
        assert_eq!(to_f32(Dtype::I64, &[0; 8]), None);
    }
}
