//! Named f32 tensors read from checkpoint files, independent of any backend.

use std::collections::BTreeMap;

use burn::tensor::{Tensor, TensorData, backend::Backend};
use safetensors::{Dtype, SafeTensors};

use crate::error::{ModelError, Result};

/// One tensor held on the host: its shape and row-major f32 values.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Values in row-major order.
    pub data: Vec<f32>,
}

impl HostTensor {
    /// Wraps values with a shape; the caller guarantees the element count matches.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Self { shape, data }
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// Swaps the two dimensions of a matrix (PyTorch `[out, in]` to burn `[in, out]`).
    pub fn transposed(&self) -> Self {
        assert_eq!(self.shape.len(), 2, "transpose needs a matrix");
        let (r, c) = (self.shape[0], self.shape[1]);
        let mut out = vec![0.0; r * c];
        for i in 0..r {
            for j in 0..c {
                out[j * r + i] = self.data[i * c + j];
            }
        }
        Self::new(vec![c, r], out)
    }

    /// Splits the outermost dimension into `parts` equal pieces (a fused qkv projection).
    pub fn chunks(&self, parts: usize) -> Vec<Self> {
        let rows = self.shape[0] / parts;
        let inner: usize = self.shape[1..].iter().product();
        (0..parts)
            .map(|p| {
                let mut shape = self.shape.clone();
                shape[0] = rows;
                let start = p * rows * inner;
                Self::new(shape, self.data[start..start + rows * inner].to_vec())
            })
            .collect()
    }

    /// Moves the values onto a backend device as a tensor of rank `D`.
    pub fn to_tensor<B: Backend, const D: usize>(self, device: &B::Device) -> Tensor<B, D> {
        assert_eq!(
            self.shape.len(),
            D,
            "rank mismatch when moving a tensor to the device"
        );
        Tensor::from_data(TensorData::new(self.data, self.shape), device)
    }
}

/// A name → tensor map read from a checkpoint, consumed as the model is assembled.
#[derive(Debug, Clone, Default)]
pub struct WeightStore {
    tensors: BTreeMap<String, HostTensor>,
}

impl WeightStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads every floating-point tensor of a safetensors file held in memory.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self> {
        let st =
            SafeTensors::deserialize(bytes).map_err(|e| ModelError::Safetensors(e.to_string()))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            let data = decode_floats(&name, view.dtype(), view.data())?;
            tensors.insert(name, HostTensor::new(view.shape().to_vec(), data));
        }
        Ok(Self { tensors })
    }

    /// Reads a safetensors file from disk.
    pub fn from_safetensors_file(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_safetensors(&bytes)
    }

    /// Serializes every tensor as f32 into safetensors bytes.
    pub fn to_safetensors(&self) -> Vec<u8> {
        let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = self
            .tensors
            .iter()
            .map(|(k, t)| {
                (
                    k.clone(),
                    t.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
                    t.shape.clone(),
                )
            })
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bytes
            .iter()
            .map(|(k, b, s)| {
                let view = safetensors::tensor::TensorView::new(Dtype::F32, s.clone(), b)
                    .expect("sizes agree");
                (k.clone(), view)
            })
            .collect();
        safetensors::serialize(views, None).expect("f32 tensors serialize")
    }

    /// Adds or replaces a tensor.
    pub fn insert(&mut self, name: impl Into<String>, tensor: HostTensor) {
        self.tensors.insert(name.into(), tensor);
    }

    /// Whether a tensor of this name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// Borrows a tensor.
    pub fn get(&self, name: &str) -> Option<&HostTensor> {
        self.tensors.get(name)
    }

    /// The shape of a tensor, if present.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name).map(|t| t.shape.as_slice())
    }

    /// All tensor names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Iterates over all tensors in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &HostTensor)> {
        self.tensors.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether the store holds no tensor.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Removes a tensor, checking that its shape is the one the architecture expects.
    pub fn take(&mut self, name: &str, expected: &[usize]) -> Result<HostTensor> {
        let t = self
            .tensors
            .remove(name)
            .ok_or_else(|| ModelError::MissingTensor(name.to_string()))?;
        // A scalar stored as shape [] or [1] is the same thing; accept either.
        let same = t.shape == expected
            || (t.numel() == 1 && expected.iter().product::<usize>() == 1 && expected.len() <= 1);
        if !same {
            return Err(ModelError::ShapeMismatch {
                name: name.to_string(),
                expected: expected.to_vec(),
                found: t.shape,
            });
        }
        Ok(HostTensor::new(expected.to_vec(), t.data))
    }

    /// Removes a tensor of any shape.
    pub fn take_any(&mut self, name: &str) -> Result<HostTensor> {
        self.tensors
            .remove(name)
            .ok_or_else(|| ModelError::MissingTensor(name.to_string()))
    }
}

/// Converts raw little-endian bytes of a float dtype into f32 values.
fn decode_floats(name: &str, dtype: Dtype, bytes: &[u8]) -> Result<Vec<f32>> {
    let out = match dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::F64 => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
            .collect(),
        // Integer tensors (e.g. HF's `position_ids` buffer) are read as floats too; they are
        // never weights, and loaders ignore them.
        Dtype::I64 => bytes
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
            .collect(),
        Dtype::I32 => bytes
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")) as f32)
            .collect(),
        other => {
            return Err(ModelError::UnsupportedDtype {
                name: name.to_string(),
                dtype: format!("{other:?}"),
            });
        }
    };
    Ok(out)
}
