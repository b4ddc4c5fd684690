//! Reading a Burn record file (named MessagePack, full precision: what `model.mpk`,
//! `best.mpk` and `optimizer.mpk` hold) without trusting it.
//!
//! Burn's recorder deserialises each tensor's `{bytes, shape, dtype}` and hands it to the
//! backend, whose `from_data` panics when the bytes do not fill the shape; it also reads
//! a MessagePack binary's length from the file and allocates it before reading. A record
//! that loads into a module whose config asks for other shapes is accepted and panics at
//! the first forward pass. So a record file is read here in three checked steps:
//!
//! 1. The file is parsed from memory (the lengths it declares cannot exceed the file) into
//!    a tree of its structure, and every tensor's byte count must equal its shape's
//!    element count × its dtype's size. Errors name the tensor's path in the record.
//! 2. For a module, the record must hold exactly the parameters of the fresh module (built
//!    from the config), with the same shapes, compared without initialising the fresh
//!    module's parameters.
//! 3. The record is deserialised from the same bytes and turned into tensors.

use std::path::Path;

use burn::module::{Module, ModuleVisitor, Param};
use burn::record::{BurnRecord, FullPrecisionSettings, Record};
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::ModelError;

fn bad(path: &Path, message: impl std::fmt::Display) -> ModelError {
    ModelError::ModelFile {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// The structure of a MessagePack document, binaries kept as their lengths only.
#[derive(Debug)]
enum Node {
    Map(Vec<(String, Node)>),
    Seq(Vec<Node>),
    Bytes(usize),
    Uint(u64),
    Str(String),
    Other,
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a MessagePack value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Other)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(u64::try_from(v).map_or(Node::Other, Node::Uint))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Uint(v))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Other)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Node, E> {
        Ok(Node::Bytes(v.len()))
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Other)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some((key, value)) = map.next_entry::<Node, Node>()? {
            let key = match key {
                Node::Str(s) => s,
                Node::Uint(n) => n.to_string(),
                _ => "?".to_string(),
            };
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

/// Bytes per element of a dtype as Burn serialises its name; `None` for the ones a record
/// of this crate never holds (quantised, packed booleans).
fn dtype_size(name: &str) -> Option<usize> {
    Some(match name {
        "F64" | "I64" | "U64" => 8,
        "F32" | "Flex32" | "I32" | "U32" => 4,
        "F16" | "BF16" | "I16" | "U16" => 2,
        "I8" | "U8" => 1,
        _ => return None,
    })
}

/// The name of a serialised enum value: a string, or a one-entry map `{name: payload}`.
fn variant_name(node: &Node) -> Option<&str> {
    match node {
        Node::Str(s) => Some(s),
        Node::Map(entries) if entries.len() == 1 => Some(&entries[0].0),
        _ => None,
    }
}

/// Whether Burn's `ParamId::deserialize` accepts `id` without panicking: base32 of at
/// most 8 bytes (at most 13 characters), or a hyphenated UUID, which base32 refuses. (Burn
/// panics on anything else, and on base32 of more than 8 bytes.)
fn valid_param_id(id: &str) -> bool {
    let uuid_like = id.len() == 36
        && id.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    (id.len() <= 13 || uuid_like) && burn::module::ParamId::try_deserialize(id).is_some()
}

/// A tensor of a record: its path (as [`Shapes`] names a module's parameters) and shape.
type Found = Vec<(String, Vec<usize>)>;

/// A record path (`item.layers[0].weight.param`) as a module path (`layers.0.weight`).
fn module_path(at: &str) -> String {
    let at = at.strip_prefix("item.").unwrap_or(at);
    let at = at.strip_suffix(".param").unwrap_or(at);
    at.replace('[', ".").replace(']', "")
}

/// Checks every parameter id (`{id, param}` maps) and every tensor (`{bytes, shape, dtype}`
/// maps) under `node`; `at` is the node's path. Collects the tensors' paths and shapes.
fn check_tensors(node: &Node, at: &str, found: &mut Found) -> Result<(), String> {
    match node {
        Node::Map(entries) => {
            let get = |k: &str| entries.iter().find(|(key, _)| key == k).map(|(_, v)| v);
            if let (Some(id), Some(_)) = (get("id"), get("param")) {
                match id {
                    Node::Str(id) if valid_param_id(id) => {}
                    _ => return Err(format!("{at}: expected a parameter id, got {id:?}")),
                }
            }
            if let (Some(bytes), Some(shape), Some(dtype)) =
                (get("bytes"), get("shape"), get("dtype"))
            {
                let Node::Bytes(len) = bytes else {
                    return Err(format!("{at}: expected the tensor's bytes as a binary"));
                };
                let Node::Seq(dims) = shape else {
                    return Err(format!("{at}: expected the tensor's shape as a list"));
                };
                let mut numel: usize = 1;
                let mut dims_text = Vec::with_capacity(dims.len());
                let mut sizes = Vec::with_capacity(dims.len());
                for d in dims {
                    let Node::Uint(d) = d else {
                        return Err(format!("{at}: expected the shape's sizes as integers"));
                    };
                    dims_text.push(d.to_string());
                    let d = usize::try_from(*d).unwrap_or(usize::MAX);
                    sizes.push(d);
                    numel = numel.checked_mul(d).ok_or_else(|| {
                        format!("{at}: shape [{}] overflows", dims_text.join(", "))
                    })?;
                }
                let name = variant_name(dtype).unwrap_or("?");
                let size = dtype_size(name)
                    .ok_or_else(|| format!("{at}: unsupported tensor dtype {name}"))?;
                let expected = numel.checked_mul(size);
                if expected != Some(*len) {
                    return Err(format!(
                        "{at}: shape [{}] of {name} needs {} bytes, the record has {len}",
                        dims_text.join(", "),
                        expected.map_or("more than addressable".to_string(), |e| e.to_string()),
                    ));
                }
                found.push((module_path(at), sizes));
                return Ok(());
            }
            for (key, value) in entries {
                let path = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                check_tensors(value, &path, found)?;
            }
            Ok(())
        }
        Node::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                check_tensors(item, &format!("{at}[{i}]"), found)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Compares a record's tensors with the parameters a module built from its config has (Burn
/// asserts, and so panics, when a list of layers has another length).
fn compare(found: &Found, expected: &Found) -> Result<(), String> {
    for (name, want) in expected {
        match found.iter().find(|(n, _)| n == name) {
            None => {
                return Err(format!(
                    "parameter {name} (shape {want:?}, from config.json) is not in the record"
                ));
            }
            Some((_, have)) if have != want => {
                return Err(format!(
                    "parameter {name}: expected shape {want:?} (from config.json), the record has {have:?}"
                ));
            }
            Some(_) => {}
        }
    }
    match found
        .iter()
        .find(|(n, _)| !expected.iter().any(|(e, _)| e == n))
    {
        Some((name, _)) => Err(format!(
            "the record has parameter {name}, which the model of config.json does not"
        )),
        None => Ok(()),
    }
}

/// Reads a record file written by Burn's `NamedMpkFileRecorder<FullPrecisionSettings>`
/// (the steps above). `what` says what the file should hold, for errors; `expected`,
/// the parameters (paths and shapes) the record must hold exactly, for a module.
fn load_record_file<B: Backend, R: Record<B>>(
    path: &Path,
    what: &str,
    keyed_by_param_id: bool,
    expected: Option<&Found>,
    device: &B::Device,
) -> Result<R, ModelError> {
    let bytes = std::fs::read(path).map_err(|e| bad(path, e))?;
    let tree: Node = rmp_serde::from_slice(&bytes).map_err(|e| {
        bad(
            path,
            format!("expected {what} (Burn's MessagePack record): {e}"),
        )
    })?;
    let mut tensors = Vec::new();
    check_tensors(&tree, "", &mut tensors)
        .map_err(|e| bad(path, format!("expected {what}: {e}")))?;
    if let Some(expected) = expected {
        compare(&tensors, expected).map_err(|e| bad(path, e))?;
    }
    if keyed_by_param_id {
        let item = match &tree {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == "item").map(|(_, v)| v),
            _ => None,
        };
        if let Some(Node::Map(entries)) = item
            && let Some((id, _)) = entries.iter().find(|(id, _)| !valid_param_id(id))
        {
            return Err(bad(
                path,
                format!("expected {what}: {id:?} is not a parameter id"),
            ));
        }
    }
    drop(tree);
    let record: BurnRecord<R::Item<FullPrecisionSettings>, B> =
        rmp_serde::from_slice(&bytes).map_err(|e| bad(path, format!("expected {what}: {e}")))?;
    Ok(R::from_item(record.item, device))
}

/// Reads an optimiser's record file (a map from parameter id to state), checked as above.
pub fn load_optimizer_file<B: Backend, R: Record<B>>(
    path: &Path,
    device: &B::Device,
) -> Result<R, ModelError> {
    load_record_file(path, "an optimiser record", true, None, device)
}

/// Parameter shapes of a module with their paths, read without initialising lazy
/// parameters.
#[derive(Default)]
struct Shapes {
    at: Vec<String>,
    shapes: Vec<(String, Vec<usize>)>,
}

impl Shapes {
    fn push(&mut self, dims: Vec<usize>) {
        self.shapes.push((self.at.join("."), dims));
    }
}

impl<B: Backend> ModuleVisitor<B> for Shapes {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.push(param.lazy_shape().to_vec());
    }
    fn visit_int<const D: usize>(&mut self, param: &Param<Tensor<B, D, Int>>) {
        self.push(param.lazy_shape().to_vec());
    }
    fn visit_bool<const D: usize>(&mut self, param: &Param<Tensor<B, D, Bool>>) {
        self.push(param.lazy_shape().to_vec());
    }
    fn enter_module(&mut self, name: &str, _: &str) {
        self.at.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.at.pop();
    }
}

fn shapes<B: Backend, M: Module<B>>(module: &M) -> Vec<(String, Vec<usize>)> {
    let mut s = Shapes::default();
    module.visit(&mut s);
    s.shapes
}

/// Loads the module record at `path` onto `fresh` (a module built from the record's
/// config), checking every tensor against its bytes, and the record's parameters (names and
/// shapes) against `fresh`'s. Errors name the file and the parameter.
pub fn load_module_file<B: Backend, M: Module<B>>(
    fresh: M,
    path: &Path,
    device: &B::Device,
) -> Result<M, ModelError> {
    let expected = shapes::<B, M>(&fresh);
    let record =
        load_record_file::<B, M::Record>(path, "a model record", false, Some(&expected), device)?;
    Ok(fresh.load_record(record))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_backend::B;
    use burn::nn::{Linear, LinearConfig};
    use burn::record::{NamedMpkFileRecorder, Recorder};

    fn save(module: &Linear<B>, stem: &Path) -> std::path::PathBuf {
        crate::retrieval::materialize(module);
        NamedMpkFileRecorder::<FullPrecisionSettings>::new()
            .record(module.clone().into_record(), stem.to_path_buf())
            .unwrap();
        stem.with_extension("mpk")
    }

    #[test]
    fn a_record_loads_back_with_its_values() {
        let dev = Default::default();
        let dir = tempfile::tempdir().unwrap();
        let linear = LinearConfig::new(3, 2).init::<B>(&dev);
        let path = save(&linear, &dir.path().join("l"));
        let loaded =
            load_module_file(LinearConfig::new(3, 2).init::<B>(&dev), &path, &dev).unwrap();
        assert_eq!(
            loaded.weight.val().into_data(),
            linear.weight.val().into_data()
        );
    }

    #[test]
    fn a_record_of_other_shapes_names_the_parameter() {
        let dev = Default::default();
        let dir = tempfile::tempdir().unwrap();
        let path = save(
            &LinearConfig::new(3, 2).init::<B>(&dev),
            &dir.path().join("l"),
        );
        let err = load_module_file(LinearConfig::new(4, 2).init::<B>(&dev), &path, &dev)
            .unwrap_err()
            .to_string();
        // Linear's weight is [d_input, d_output]: [4, 2] wanted, [3, 2] saved.
        assert!(
            err.contains("parameter weight: expected shape [4, 2]"),
            "{err}"
        );
        assert!(err.contains("[3, 2]"), "{err}");
    }

    #[test]
    fn bytes_that_do_not_fill_the_shape_are_an_error_not_a_panic() {
        let dev = Default::default();
        let dir = tempfile::tempdir().unwrap();
        let path = save(
            &LinearConfig::new(3, 2).init::<B>(&dev),
            &dir.path().join("l"),
        );
        let mut bytes = std::fs::read(&path).unwrap();
        // The weight's shape [3, 2] is written as the fixints 0x03 0x02 after "shape"; make
        // it [3, 3]: 9 f32 need 36 bytes, the record holds 24.
        let key = b"shape";
        let at = bytes.windows(key.len()).position(|w| w == key).unwrap() + key.len();
        assert_eq!(&bytes[at..at + 3], &[0x92, 0x03, 0x02]); // a 2-array [3, 2]
        bytes[at + 2] = 0x03;
        std::fs::write(&path, &bytes).unwrap();
        let err = load_module_file(LinearConfig::new(3, 2).init::<B>(&dev), &path, &dev)
            .unwrap_err()
            .to_string();
        assert!(err.contains("weight"), "{err}");
        assert!(err.contains("needs 36 bytes, the record has 24"), "{err}");
    }

    #[derive(Module, Debug)]
    struct Stack<B: Backend> {
        layers: Vec<Linear<B>>,
    }

    fn stack(n: usize) -> Stack<B> {
        let dev = Default::default();
        Stack {
            layers: (0..n).map(|_| LinearConfig::new(2, 2).init(&dev)).collect(),
        }
    }

    #[test]
    fn a_record_with_fewer_layers_than_the_config_is_an_error_not_a_panic() {
        // Burn asserts that a list of layers and its record have the same length; the fuzz
        // suite reached that assertion with a config.json whose layer count was flipped.
        let dev = Default::default();
        let dir = tempfile::tempdir().unwrap();
        let one = stack(1);
        crate::retrieval::materialize(&one);
        NamedMpkFileRecorder::<FullPrecisionSettings>::new()
            .record(one.into_record(), dir.path().join("s"))
            .unwrap();
        let path = dir.path().join("s.mpk");
        let err = load_module_file(stack(3), &path, &dev)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "parameter layers.1.weight (shape [2, 2], from config.json) is not in the record"
            ),
            "{err}"
        );
        let err = load_module_file(stack(0), &path, &dev)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "the record has parameter layers.0.weight, which the model of config.json does not"
            ),
            "{err}"
        );
        assert!(load_module_file(stack(1), &path, &dev).is_ok());
    }
}
