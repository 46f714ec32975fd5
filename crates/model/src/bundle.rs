//! The compact model file the page downloads: a header (config, layer names, tensor table)
//! followed by tensors, weight matrices stored as symmetric per-output-channel int8.
//!
//! Layout (all integers little-endian):
//! `MSCPBNDL` · u32 version · u32 CRC-32 of everything after these 16 bytes · u64 header
//! length · header JSON · data section (each entry 8-byte aligned).

use serde::{Deserialize, Serialize};

use crate::config::ClipConfig;
use crate::error::{ModelError, Result};
use crate::weights::{HostTensor, WeightStore};

/// First bytes of every bundle.
pub const MAGIC: &[u8; 8] = b"MSCPBNDL";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;
const PREAMBLE: usize = 8 + 4 + 4 + 8;

/// How tensors are stored in a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// Everything as f32 (lossless).
    F32,
    /// Matrices and convolutions as int8 with one f32 scale per output channel; vectors f32.
    Int8,
}

/// Text files of the tokenizer, carried inside the bundle so one download is enough.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenizerFiles {
    /// `vocab.json` as Hugging Face ships it.
    pub vocab_json: String,
    /// `merges.txt` as Hugging Face ships it.
    pub merges_txt: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Dtype {
    F32,
    I8,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    name: String,
    shape: Vec<usize>,
    dtype: Dtype,
    offset: u64,
    nbytes: u64,
    /// For int8: offset of the per-output-channel f32 scales.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scales_offset: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Blob {
    name: String,
    offset: u64,
    nbytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Header {
    config: ClipConfig,
    layers: Vec<String>,
    tensors: Vec<Entry>,
    #[serde(default)]
    blobs: Vec<Blob>,
    #[serde(default)]
    meta: serde_json::Value,
}

/// A bundle read back into memory: weights dequantized to f32.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The architecture.
    pub config: ClipConfig,
    /// Layer names the model exposes (as recorded when it was written).
    pub layers: Vec<String>,
    /// Canonical-named tensors, ready for [`crate::Clip::from_store`].
    pub store: WeightStore,
    /// The tokenizer files, when the bundle carries them.
    pub tokenizer: Option<TokenizerFiles>,
    /// Free-form provenance (source, command, metrics).
    pub meta: serde_json::Value,
}

/// What quantization did to the weights.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QuantReport {
    /// Size of the weights as f32, in bytes.
    pub f32_bytes: u64,
    /// Size of the written bundle, in bytes.
    pub bundle_bytes: u64,
    /// Largest absolute change of any weight.
    pub max_abs_error: f32,
    /// Mean absolute change over all quantized weights.
    pub mean_abs_error: f32,
    /// Number of tensors stored as int8.
    pub quantized_tensors: usize,
    /// Number of tensors stored as f32.
    pub f32_tensors: usize,
}

/// Whether a tensor is stored as int8 at [`Precision::Int8`]: matrices, convolutions and
/// embedding tables; vectors (biases, norms) and the scalar temperature stay f32.
fn quantizes(t: &HostTensor) -> bool {
    t.shape.len() >= 2 && t.numel() >= 64
}

/// Symmetric int8 quantization with one scale per output channel (outermost dimension).
pub fn quantize_rows(t: &HostTensor) -> (Vec<i8>, Vec<f32>) {
    let rows = t.shape[0];
    let inner = t.numel() / rows.max(1);
    let mut q = Vec::with_capacity(t.numel());
    let mut scales = Vec::with_capacity(rows);
    for row in t.data.chunks(inner.max(1)) {
        let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        scales.push(scale);
        q.extend(
            row.iter()
                .map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8),
        );
    }
    (q, scales)
}

/// Inverse of [`quantize_rows`].
pub fn dequantize_rows(shape: &[usize], q: &[i8], scales: &[f32]) -> HostTensor {
    let inner = q.len() / scales.len().max(1);
    let data = q
        .chunks(inner.max(1))
        .zip(scales)
        .flat_map(|(row, s)| row.iter().map(move |&v| v as f32 * s))
        .collect();
    HostTensor::new(shape.to_vec(), data)
}

fn align(buf: &mut Vec<u8>) {
    while !buf.len().is_multiple_of(8) {
        buf.push(0);
    }
}

/// Writes a bundle for a canonical-named store.
pub fn write(
    config: &ClipConfig,
    layers: &[String],
    store: &WeightStore,
    tokenizer: Option<&TokenizerFiles>,
    precision: Precision,
    meta: serde_json::Value,
) -> (Vec<u8>, QuantReport) {
    let mut data = Vec::new();
    let mut entries = Vec::new();
    let mut report = QuantReport::default();
    let (mut err_sum, mut err_count) = (0f64, 0u64);
    for (name, t) in store.iter() {
        report.f32_bytes += 4 * t.numel() as u64;
        align(&mut data);
        let offset = data.len() as u64;
        if precision == Precision::Int8 && quantizes(t) {
            let (q, scales) = quantize_rows(t);
            let back = dequantize_rows(&t.shape, &q, &scales);
            for (a, b) in t.data.iter().zip(&back.data) {
                let e = (a - b).abs();
                report.max_abs_error = report.max_abs_error.max(e);
                err_sum += e as f64;
                err_count += 1;
            }
            data.extend(q.iter().map(|&v| v as u8));
            align(&mut data);
            let scales_offset = data.len() as u64;
            data.extend(scales.iter().flat_map(|s| s.to_le_bytes()));
            entries.push(Entry {
                name: name.to_string(),
                shape: t.shape.clone(),
                dtype: Dtype::I8,
                offset,
                nbytes: q.len() as u64,
                scales_offset: Some(scales_offset),
            });
            report.quantized_tensors += 1;
        } else {
            data.extend(t.data.iter().flat_map(|v| v.to_le_bytes()));
            entries.push(Entry {
                name: name.to_string(),
                shape: t.shape.clone(),
                dtype: Dtype::F32,
                offset,
                nbytes: 4 * t.numel() as u64,
                scales_offset: None,
            });
            report.f32_tensors += 1;
        }
    }
    let mut blobs = Vec::new();
    if let Some(tok) = tokenizer {
        for (name, text) in [
            ("vocab.json", &tok.vocab_json),
            ("merges.txt", &tok.merges_txt),
        ] {
            align(&mut data);
            blobs.push(Blob {
                name: name.to_string(),
                offset: data.len() as u64,
                nbytes: text.len() as u64,
            });
            data.extend_from_slice(text.as_bytes());
        }
    }
    report.mean_abs_error = if err_count > 0 {
        (err_sum / err_count as f64) as f32
    } else {
        0.0
    };
    let header = Header {
        config: config.clone(),
        layers: layers.to_vec(),
        tensors: entries,
        blobs,
        meta,
    };
    let mut header_json = serde_json::to_vec(&header).expect("header serializes");
    while !(PREAMBLE + header_json.len()).is_multiple_of(8) {
        header_json.push(b' ');
    }
    let mut body = Vec::with_capacity(8 + header_json.len() + data.len());
    body.extend_from_slice(&(header_json.len() as u64).to_le_bytes());
    body.extend_from_slice(&header_json);
    body.extend_from_slice(&data);
    let mut out = Vec::with_capacity(16 + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    report.bundle_bytes = out.len() as u64;
    (out, report)
}

/// Whether bytes look like a bundle (by magic), to tell it from a safetensors file.
pub fn is_bundle(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

fn slice<'a>(data: &'a [u8], offset: u64, len: u64, what: &str) -> Result<&'a [u8]> {
    let end = offset.checked_add(len).filter(|&e| e <= data.len() as u64);
    match end {
        Some(end) => Ok(&data[offset as usize..end as usize]),
        None => Err(ModelError::Truncated {
            what: what.to_string(),
            needed: offset.saturating_add(len),
            available: data.len() as u64,
        }),
    }
}

/// Reads a bundle, checking magic, version, length and checksum before trusting anything.
pub fn read(bytes: &[u8]) -> Result<Bundle> {
    if bytes.len() < 8 || &bytes[..8] != MAGIC {
        return Err(ModelError::BadMagic);
    }
    if bytes.len() < PREAMBLE {
        return Err(ModelError::Truncated {
            what: "the bundle preamble".into(),
            needed: PREAMBLE as u64,
            available: bytes.len() as u64,
        });
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(ModelError::UnsupportedVersion {
            found: version,
            supported: VERSION,
        });
    }
    let crc = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes"));
    let header_len = u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes"));
    let header_bytes = slice(bytes, PREAMBLE as u64, header_len, "the bundle header")?;
    let header: Header = serde_json::from_slice(header_bytes)
        .map_err(|e| ModelError::InvalidConfig(format!("bundle header: {e}")))?;
    let data = &bytes[PREAMBLE + header_len as usize..];
    let needed = header
        .tensors
        .iter()
        .map(|e| {
            let scales = e
                .scales_offset
                .map_or(0, |o| o + 4 * e.shape.first().copied().unwrap_or(0) as u64);
            (e.offset + e.nbytes).max(scales)
        })
        .chain(header.blobs.iter().map(|b| b.offset + b.nbytes))
        .max()
        .unwrap_or(0);
    if needed > data.len() as u64 {
        return Err(ModelError::Truncated {
            what: "the tensor data".into(),
            needed: PREAMBLE as u64 + header_len + needed,
            available: bytes.len() as u64,
        });
    }
    let found = crc32fast::hash(&bytes[16..]);
    if found != crc {
        return Err(ModelError::Corrupt {
            expected: crc,
            found,
        });
    }
    header.config.validate()?;
    let mut store = WeightStore::new();
    for e in &header.tensors {
        let numel: usize = e.shape.iter().product();
        let raw = slice(data, e.offset, e.nbytes, &e.name)?;
        let t = match e.dtype {
            Dtype::F32 => {
                if raw.len() != 4 * numel {
                    return Err(size_mismatch(e, 4 * numel));
                }
                let v = raw
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                    .collect();
                HostTensor::new(e.shape.clone(), v)
            }
            Dtype::I8 => {
                if raw.len() != numel || e.shape.is_empty() {
                    return Err(size_mismatch(e, numel));
                }
                let rows = e.shape[0] as u64;
                let so = e.scales_offset.ok_or_else(|| {
                    ModelError::InvalidConfig(format!("int8 tensor `{}` has no scales", e.name))
                })?;
                let sraw = slice(data, so, 4 * rows, &e.name)?;
                let scales: Vec<f32> = sraw
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                    .collect();
                let q: Vec<i8> = raw.iter().map(|&b| b as i8).collect();
                dequantize_rows(&e.shape, &q, &scales)
            }
        };
        store.insert(e.name.clone(), t);
    }
    let blob = |name: &str| -> Result<Option<String>> {
        match header.blobs.iter().find(|b| b.name == name) {
            None => Ok(None),
            Some(b) => {
                let raw = slice(data, b.offset, b.nbytes, name)?;
                String::from_utf8(raw.to_vec()).map(Some).map_err(|_| {
                    ModelError::InvalidConfig(format!("{name} in the bundle is not UTF-8"))
                })
            }
        }
    };
    let tokenizer = match (blob("vocab.json")?, blob("merges.txt")?) {
        (Some(vocab_json), Some(merges_txt)) => Some(TokenizerFiles {
            vocab_json,
            merges_txt,
        }),
        _ => None,
    };
    Ok(Bundle {
        config: header.config,
        layers: header.layers,
        store,
        tokenizer,
        meta: header.meta,
    })
}

fn size_mismatch(e: &Entry, expected: usize) -> ModelError {
    ModelError::InvalidConfig(format!(
        "tensor `{}` of shape {:?} should take {expected} bytes but the bundle gives {}",
        e.name, e.shape, e.nbytes
    ))
}
