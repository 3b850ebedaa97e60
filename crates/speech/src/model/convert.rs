//! CTranslate2 (v6 `WhisperSpec`) → whisper.cpp ggml conversion.
//!
//! The CT2 file is a header (`u32` version, string spec, `u32` revision, `u32` variable count),
//! then per variable a name, `u8` rank, `u32` dims, `u8` dtype, `u32` byte count and the data,
//! then aliases (pairs of names). Strings are a `u16` length that counts a trailing NUL.
//! The ggml file is what whisper.cpp's own converter writes: magic, 11 `i32` hyper-parameters,
//! the mel filter bank, the byte-level vocabulary, then the tensors under OpenAI's names.

use std::collections::HashMap;
use std::io::Write;

use half::f16;

const GGML_MAGIC: u32 = 0x6767_6d6c;

/// Why a model could not be converted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    #[error("the model file ends early (at byte {0}); it is truncated or not a CTranslate2 model")]
    Truncated(usize),
    #[error("this is a CTranslate2 v{version} `{spec}` model; only v6 `WhisperSpec` is supported")]
    Unsupported { version: u32, spec: String },
    #[error("the model has no `{0}` variable")]
    Missing(String),
    #[error("the variable `{name}` has an unexpected shape {dims:?} or type {dtype}")]
    Shape {
        name: String,
        dims: Vec<u32>,
        dtype: u8,
    },
    #[error("the vocabulary has {found} entries; the model needs at least {needed}")]
    Vocabulary { found: usize, needed: usize },
    #[error("the vocabulary entry `{0}` is not byte-level BPE text")]
    Token(String),
    #[error("cannot write the converted model: {0}")]
    Write(#[from] std::io::Error),
}

/// One CT2 variable, borrowing its bytes from the file.
#[derive(Debug, Clone)]
struct Variable<'a> {
    dims: Vec<u32>,
    dtype: u8,
    data: &'a [u8],
}

const DTYPE_F32: u8 = 0;
const DTYPE_I16: u8 = 2;
const DTYPE_F16: u8 = 4;

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ConvertError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(ConvertError::Truncated(self.at))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }
    fn u8(&mut self) -> Result<u8, ConvertError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, ConvertError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, ConvertError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn string(&mut self) -> Result<String, ConvertError> {
        let len = usize::from(self.u16()?);
        let bytes = self.take(len)?;
        let text = bytes.strip_suffix(&[0]).unwrap_or(bytes);
        Ok(String::from_utf8_lossy(text).into_owned())
    }
}

/// The variables of a CT2 model file, aliases resolved.
#[derive(Debug)]
struct Ct2Model<'a> {
    variables: HashMap<String, Variable<'a>>,
}

impl<'a> Ct2Model<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self, ConvertError> {
        let mut r = Reader { bytes, at: 0 };
        let version = r.u32()?;
        let spec = r.string()?;
        let _revision = r.u32()?;
        if version != 6 || spec != "WhisperSpec" {
            return Err(ConvertError::Unsupported { version, spec });
        }
        let count = r.u32()?;
        let mut variables = HashMap::new();
        for _ in 0..count {
            let name = r.string()?;
            let rank = r.u8()?;
            let dims = (0..rank).map(|_| r.u32()).collect::<Result<Vec<_>, _>>()?;
            let dtype = r.u8()?;
            let len = r.u32()? as usize;
            let data = r.take(len)?;
            variables.insert(name, Variable { dims, dtype, data });
        }
        let aliases = r.u32()?;
        for _ in 0..aliases {
            let (alias, target) = (r.string()?, r.string()?);
            if let Some(variable) = variables.get(&target).cloned() {
                variables.insert(alias, variable);
            }
        }
        Ok(Self { variables })
    }

    fn get(&self, name: &str) -> Result<&Variable<'a>, ConvertError> {
        self.variables
            .get(name)
            .ok_or_else(|| ConvertError::Missing(name.to_owned()))
    }

    /// A float tensor with the given rank.
    fn tensor(&self, name: &str, rank: usize) -> Result<&Variable<'a>, ConvertError> {
        let v = self.get(name)?;
        let elements: usize = v.dims.iter().map(|&d| d as usize).product();
        let width = match v.dtype {
            DTYPE_F32 => 4,
            DTYPE_F16 => 2,
            _ => 0,
        };
        if v.dims.len() != rank || width == 0 || elements * width != v.data.len() {
            return Err(shape(name, v));
        }
        Ok(v)
    }

    fn scalar_i16(&self, name: &str) -> Result<i32, ConvertError> {
        let v = self.get(name)?;
        match (v.dtype, v.data) {
            (DTYPE_I16, [a, b]) => Ok(i32::from(i16::from_le_bytes([*a, *b]))),
            _ => Err(shape(name, v)),
        }
    }

    fn layers(&self, prefix: &str) -> usize {
        (0..)
            .take_while(|i| {
                self.variables
                    .contains_key(&format!("{prefix}/layer_{i}/ffn/linear_0/weight"))
            })
            .count()
    }
}

fn shape(name: &str, v: &Variable<'_>) -> ConvertError {
    ConvertError::Shape {
        name: name.to_owned(),
        dims: v.dims.clone(),
        dtype: v.dtype,
    }
}

/// The hyper-parameters whisper.cpp reads, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HyperParameters {
    pub n_vocab: i32,
    pub n_audio_ctx: i32,
    pub n_audio_state: i32,
    pub n_audio_head: i32,
    pub n_audio_layer: i32,
    pub n_text_ctx: i32,
    pub n_text_state: i32,
    pub n_text_head: i32,
    pub n_text_layer: i32,
    pub n_mels: i32,
}

/// How a source tensor becomes ggml tensors.
enum Piece {
    /// The whole tensor.
    Whole,
    /// Rows `[from, to)` of the first dimension (one projection out of a fused one).
    Rows(usize, usize),
}

/// A tensor to write: its ggml name, where it comes from, and whether it stays f32.
struct Output {
    name: String,
    source: String,
    piece: Piece,
    keep_f32: bool,
    /// Conv biases are stored as `[n, 1]`.
    as_column: bool,
}

fn plan(hp: &HyperParameters) -> Vec<Output> {
    let mut out = Vec::new();
    let mut add = |name: String, source: String, piece: Piece| {
        let keep_f32 = source.ends_with("/bias")
            || source.ends_with("/gamma")
            || source.ends_with("/beta")
            || source.ends_with("position_encodings/encodings");
        let as_column = name.starts_with("encoder.conv") && name.ends_with(".bias");
        out.push(Output {
            name,
            source,
            piece,
            keep_f32,
            as_column,
        });
    };
    let state = hp.n_audio_state as usize;
    let text = hp.n_text_state as usize;
    for conv in ["conv1", "conv2"] {
        for part in ["weight", "bias"] {
            add(
                format!("encoder.{conv}.{part}"),
                format!("encoder/{conv}/{part}"),
                Piece::Whole,
            );
        }
    }
    add(
        "encoder.positional_embedding".into(),
        "encoder/position_encodings/encodings".into(),
        Piece::Whole,
    );
    let norm = |add: &mut dyn FnMut(String, String, Piece), to: &str, from: &str| {
        add(
            format!("{to}.weight"),
            format!("{from}/gamma"),
            Piece::Whole,
        );
        add(format!("{to}.bias"), format!("{from}/beta"), Piece::Whole);
    };
    let linear = |add: &mut dyn FnMut(String, String, Piece), to: &str, from: &str, bias: bool| {
        add(
            format!("{to}.weight"),
            format!("{from}/weight"),
            Piece::Whole,
        );
        if bias {
            add(format!("{to}.bias"), format!("{from}/bias"), Piece::Whole);
        }
    };
    // Split a fused projection: q/k/v (self-attention) or k/v (cross-attention). The key has
    // no bias in Whisper (CT2 stores zeros there), and whisper.cpp expects none.
    let fused = |add: &mut dyn FnMut(String, String, Piece),
                 to: &str,
                 from: &str,
                 names: &[&str],
                 width: usize| {
        for (i, part) in names.iter().enumerate() {
            let rows = Piece::Rows(i * width, (i + 1) * width);
            add(
                format!("{to}.{part}.weight"),
                format!("{from}/weight"),
                rows,
            );
            if *part != "key" {
                add(
                    format!("{to}.{part}.bias"),
                    format!("{from}/bias"),
                    Piece::Rows(i * width, (i + 1) * width),
                );
            }
        }
    };
    for i in 0..hp.n_audio_layer {
        let (to, from) = (format!("encoder.blocks.{i}"), format!("encoder/layer_{i}"));
        norm(
            &mut add,
            &format!("{to}.attn_ln"),
            &format!("{from}/self_attention/layer_norm"),
        );
        fused(
            &mut add,
            &format!("{to}.attn"),
            &format!("{from}/self_attention/linear_0"),
            &["query", "key", "value"],
            state,
        );
        linear(
            &mut add,
            &format!("{to}.attn.out"),
            &format!("{from}/self_attention/linear_1"),
            true,
        );
        norm(
            &mut add,
            &format!("{to}.mlp_ln"),
            &format!("{from}/ffn/layer_norm"),
        );
        linear(
            &mut add,
            &format!("{to}.mlp.0"),
            &format!("{from}/ffn/linear_0"),
            true,
        );
        linear(
            &mut add,
            &format!("{to}.mlp.2"),
            &format!("{from}/ffn/linear_1"),
            true,
        );
    }
    norm(&mut add, "encoder.ln_post", "encoder/layer_norm");
    add(
        "decoder.token_embedding.weight".into(),
        "decoder/embeddings/weight".into(),
        Piece::Whole,
    );
    add(
        "decoder.positional_embedding".into(),
        "decoder/position_encodings/encodings".into(),
        Piece::Whole,
    );
    for i in 0..hp.n_text_layer {
        let (to, from) = (format!("decoder.blocks.{i}"), format!("decoder/layer_{i}"));
        norm(
            &mut add,
            &format!("{to}.attn_ln"),
            &format!("{from}/self_attention/layer_norm"),
        );
        fused(
            &mut add,
            &format!("{to}.attn"),
            &format!("{from}/self_attention/linear_0"),
            &["query", "key", "value"],
            text,
        );
        linear(
            &mut add,
            &format!("{to}.attn.out"),
            &format!("{from}/self_attention/linear_1"),
            true,
        );
        norm(
            &mut add,
            &format!("{to}.cross_attn_ln"),
            &format!("{from}/attention/layer_norm"),
        );
        linear(
            &mut add,
            &format!("{to}.cross_attn.query"),
            &format!("{from}/attention/linear_0"),
            true,
        );
        fused(
            &mut add,
            &format!("{to}.cross_attn"),
            &format!("{from}/attention/linear_1"),
            &["key", "value"],
            text,
        );
        linear(
            &mut add,
            &format!("{to}.cross_attn.out"),
            &format!("{from}/attention/linear_2"),
            true,
        );
        norm(
            &mut add,
            &format!("{to}.mlp_ln"),
            &format!("{from}/ffn/layer_norm"),
        );
        linear(
            &mut add,
            &format!("{to}.mlp.0"),
            &format!("{from}/ffn/linear_0"),
            true,
        );
        linear(
            &mut add,
            &format!("{to}.mlp.2"),
            &format!("{from}/ffn/linear_1"),
            true,
        );
    }
    norm(&mut add, "decoder.ln", "decoder/layer_norm");
    out
}

/// GPT-2's byte ↔ printable-character table: vocabulary text uses these characters for bytes.
fn unicode_to_byte() -> HashMap<char, u8> {
    let mut printable: Vec<u8> = (b'!'..=b'~').collect();
    printable.extend(0xA1..=0xAC);
    printable.extend(0xAE..=0xFF);
    let mut table = HashMap::with_capacity(256);
    for &b in &printable {
        table.insert(char::from(b), b);
    }
    let mut next = 0u32;
    for b in 0..=255u8 {
        if !printable.contains(&b) {
            if let Some(c) = char::from_u32(256 + next) {
                table.insert(c, b);
            }
            next += 1;
        }
    }
    table
}

/// The vocabulary whisper.cpp reads: the BPE tokens and `<|endoftext|>`; it names the special
/// tokens after that itself.
fn vocabulary(text: &str) -> Result<Vec<Vec<u8>>, ConvertError> {
    let table = unicode_to_byte();
    let mut tokens = Vec::new();
    for line in text.lines() {
        let bytes = line
            .chars()
            .map(|c| table.get(&c).copied())
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(|| ConvertError::Token(line.to_owned()))?;
        tokens.push(bytes);
        if line == "<|endoftext|>" {
            return Ok(tokens);
        }
    }
    Err(ConvertError::Token("<|endoftext|> (not found)".into()))
}

/// Reads the hyper-parameters from the CT2 variables.
fn hyper_parameters(model: &Ct2Model<'_>) -> Result<HyperParameters, ConvertError> {
    let dim = |name: &str, rank: usize, i: usize| -> Result<i32, ConvertError> {
        let v = model.tensor(name, rank)?;
        Ok(v.dims[i] as i32)
    };
    Ok(HyperParameters {
        n_vocab: dim("decoder/embeddings/weight", 2, 0)?,
        n_audio_ctx: dim("encoder/position_encodings/encodings", 2, 0)?,
        n_audio_state: dim("encoder/position_encodings/encodings", 2, 1)?,
        n_audio_head: model.scalar_i16("encoder/num_heads")?,
        n_audio_layer: model.layers("encoder") as i32,
        n_text_ctx: dim("decoder/position_encodings/encodings", 2, 0)?,
        n_text_state: dim("decoder/position_encodings/encodings", 2, 1)?,
        n_text_head: model.scalar_i16("decoder/num_heads")?,
        n_text_layer: model.layers("decoder") as i32,
        n_mels: dim("encoder/conv1/weight", 3, 1)?,
    })
}

/// Converts a CT2 Whisper model (`model.bin` bytes and `vocabulary.txt` text) to a ggml file
/// written to `out`. `progress` is called with the share of tensors written (0–1).
pub fn convert(
    model_bin: &[u8],
    vocabulary_txt: &str,
    out: &mut impl Write,
    mut progress: impl FnMut(f32),
) -> Result<HyperParameters, ConvertError> {
    let model = Ct2Model::parse(model_bin)?;
    let hp = hyper_parameters(&model)?;
    let tokens = vocabulary(vocabulary_txt)?;
    let full_vocab = vocabulary_txt.lines().count();
    if full_vocab < hp.n_vocab as usize {
        return Err(ConvertError::Vocabulary {
            found: full_vocab,
            needed: hp.n_vocab as usize,
        });
    }

    let i32s = |out: &mut dyn Write, values: &[i32]| -> std::io::Result<()> {
        for v in values {
            out.write_all(&v.to_le_bytes())?;
        }
        Ok(())
    };
    out.write_all(&GGML_MAGIC.to_le_bytes())?;
    i32s(
        out,
        &[
            hp.n_vocab,
            hp.n_audio_ctx,
            hp.n_audio_state,
            hp.n_audio_head,
            hp.n_audio_layer,
            hp.n_text_ctx,
            hp.n_text_state,
            hp.n_text_head,
            hp.n_text_layer,
            hp.n_mels,
            1, // ftype: f16 weights
        ],
    )?;
    let bank = super::mel::filter_bank(hp.n_mels as usize);
    i32s(out, &[hp.n_mels, (super::mel::N_FFT / 2 + 1) as i32])?;
    for v in bank {
        out.write_all(&v.to_le_bytes())?;
    }
    i32s(out, &[tokens.len() as i32])?;
    for token in &tokens {
        i32s(out, &[token.len() as i32])?;
        out.write_all(token)?;
    }

    let outputs = plan(&hp);
    let total = outputs.len();
    for (done, output) in outputs.into_iter().enumerate() {
        let rank = if output.source.contains("conv") && output.source.ends_with("weight") {
            3
        } else if output.source.ends_with("weight") || output.source.ends_with("encodings") {
            2
        } else {
            1
        };
        let v = model.tensor(&output.source, rank)?;
        let row_len: usize = v.dims.iter().skip(1).map(|&d| d as usize).product();
        let width = if v.dtype == DTYPE_F16 { 2 } else { 4 };
        let (data, mut dims) = match output.piece {
            Piece::Whole => (v.data, v.dims.clone()),
            Piece::Rows(from, to) => {
                if to > v.dims[0] as usize {
                    return Err(shape(&output.source, v));
                }
                let mut dims = v.dims.clone();
                dims[0] = (to - from) as u32;
                (&v.data[from * row_len * width..to * row_len * width], dims)
            }
        };
        if output.as_column {
            dims.push(1);
        }
        let f32_out = output.keep_f32 || dims.len() < 2;
        let name = output.name.as_bytes();
        i32s(
            out,
            &[dims.len() as i32, name.len() as i32, i32::from(!f32_out)],
        )?;
        // ggml lists dimensions innermost first.
        for d in dims.iter().rev() {
            out.write_all(&(*d as i32).to_le_bytes())?;
        }
        out.write_all(name)?;
        write_data(out, data, v.dtype, f32_out)?;
        progress((done + 1) as f32 / total as f32);
    }
    out.flush()?;
    Ok(hp)
}

fn write_data(out: &mut impl Write, data: &[u8], dtype: u8, as_f32: bool) -> std::io::Result<()> {
    match (dtype, as_f32) {
        (DTYPE_F16, false) | (DTYPE_F32, true) => out.write_all(data),
        (DTYPE_F16, true) => {
            let mut buf = Vec::with_capacity(data.len() * 2);
            for pair in data.chunks_exact(2) {
                let v = f16::from_le_bytes([pair[0], pair[1]]).to_f32();
                buf.extend_from_slice(&v.to_le_bytes());
            }
            out.write_all(&buf)
        }
        _ => {
            let mut buf = Vec::with_capacity(data.len() / 2);
            for quad in data.chunks_exact(4) {
                let v = f32::from_le_bytes([quad[0], quad[1], quad[2], quad[3]]);
                buf.extend_from_slice(&f16::from_f32(v).to_le_bytes());
            }
            out.write_all(&buf)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_covers_every_byte_once() {
        let table = unicode_to_byte();
        assert_eq!(table.len(), 256);
        let mut bytes: Vec<u8> = table.values().copied().collect();
        bytes.sort_unstable();
        bytes.dedup();
        assert_eq!(bytes.len(), 256);
        // "Ġ" is GPT-2's space, "Ċ" its newline.
        assert_eq!(table[&'Ġ'], b' ');
        assert_eq!(table[&'Ċ'], b'\n');
    }

    #[test]
    fn vocabulary_stops_after_end_of_text_and_decodes_spaces() {
        let tokens = vocabulary("!\nĠthe\n<|endoftext|>\n<|startoftranscript|>\n").unwrap();
        assert_eq!(
            tokens,
            vec![b"!".to_vec(), b" the".to_vec(), b"<|endoftext|>".to_vec()]
        );
    }

    #[test]
    fn a_truncated_or_foreign_file_is_a_clear_error() {
        assert!(matches!(
            Ct2Model::parse(&[6, 0, 0]),
            Err(ConvertError::Truncated(_))
        ));
        let mut other = 6u32.to_le_bytes().to_vec();
        other.extend_from_slice(&5u16.to_le_bytes());
        other.extend_from_slice(b"Spec\0");
        other.extend_from_slice(&[0; 8]);
        assert!(matches!(
            Ct2Model::parse(&other),
            Err(ConvertError::Unsupported { version: 6, .. })
        ));
    }
}
