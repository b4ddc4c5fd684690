//! A real pretrained BERT-family checkpoint (all-MiniLM-L6-v2 in `../shared/models`)
//! through san-data's tokenizer and san-models' BERT encoder, against PyTorch:
//! `../shared/reference/minilm_reference.json` was computed with transformers 5.24 and
//! torch 2.15, float32, eval mode (mean pooling over the attention mask, then L2
//! normalisation, as sentence-transformers does).

use std::path::{Path, PathBuf};

use burn::tensor::{Bool, Int, Tensor, TensorData};
use san_data::subword::SubwordTokenizer;
use san_models::bert::{BertTextEncoderConfig, load_bert};

type B = san::backend::Cpu;

fn shared() -> Option<(PathBuf, serde_json::Value)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    let (model, reference) = (
        root.join("models/all-MiniLM-L6-v2"),
        root.join("reference/minilm_reference.json"),
    );
    if !model.join("model.safetensors").exists() || !reference.exists() {
        eprintln!(
            "skipping: {} or {} not found",
            model.display(),
            reference.display()
        );
        return None;
    }
    let json = serde_json::from_str(&std::fs::read_to_string(reference).unwrap()).unwrap();
    Some((model, json))
}

fn matrix(v: &serde_json::Value) -> Vec<Vec<f64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

#[test]
fn minilm_matches_pytorch_token_ids_hidden_states_and_pooled_embeddings() {
    let Some((dir, reference)) = shared() else {
        return;
    };
    let dev = Default::default();
    let ckpt = load_bert::<B>(&dir, &dev).unwrap();
    assert!(ckpt.tokenizer.ends_with("tokenizer.json"));
    let tokenizer = SubwordTokenizer::from_tokenizer_json(&ckpt.tokenizer).unwrap();

    let sentences: Vec<&str> = reference["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let ref_ids = matrix(&reference["input_ids"]);
    let ref_mask = matrix(&reference["attention_mask"]);
    let (n, len) = (sentences.len(), ref_ids[0].len());

    // 1. token ids equal
    let mut ids = vec![0i64; n * len];
    let mut mask = vec![false; n * len];
    for (k, sentence) in sentences.iter().enumerate() {
        let words: Vec<String> = sentence.split_whitespace().map(String::from).collect();
        let ours = tokenizer.encode_words(&words, true).unwrap().ids;
        let real = ref_mask[k].iter().filter(|&&m| m > 0.5).count();
        let theirs: Vec<u32> = ref_ids[k][..real].iter().map(|&x| x as u32).collect();
        assert_eq!(ours, theirs, "sentence {k}: {sentence}");
        for (t, &id) in ours.iter().enumerate() {
            ids[k * len + t] = i64::from(id);
            mask[k * len + t] = true;
        }
    }

    let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [n, len]), &dev);
    let mask_t = Tensor::<B, 2, Bool>::from_data(TensorData::new(mask.clone(), [n, len]), &dev);
    let hidden = ckpt.model.forward(ids.clone(), mask_t.clone(), None); // [n, len, 384]
    let h = ckpt.model.hidden_size();
    let values = hidden.into_data().to_vec::<f32>().unwrap();

    // 2. last hidden state of sentence 0 within 1e-4 absolute
    let ref_hidden = matrix(&reference["last_hidden_state_0"]);
    let mut worst = 0.0f64;
    for (t, row) in ref_hidden.iter().enumerate() {
        for (d, &x) in row.iter().enumerate() {
            worst = worst.max((f64::from(values[t * h + d]) - x).abs());
        }
    }
    println!("MiniLM last hidden state, sentence 0: max |Δ| = {worst:.2e}");
    assert!(worst <= 1e-4, "max abs difference {worst}");

    // 3. mean-pooled, L2-normalised embeddings: cosine ≥ 0.9999 with PyTorch's (the mean's
    //    1/count cancels in the normalisation, so the sum is normalised)
    let ref_pooled = matrix(&reference["mean_pooled_normalized"]);
    for k in 0..n {
        let mut pooled = vec![0.0f64; h];
        for t in 0..len {
            if mask[k * len + t] {
                for d in 0..h {
                    pooled[d] += f64::from(values[(k * len + t) * h + d]);
                }
            }
        }
        let norm = pooled.iter().map(|x| x * x).sum::<f64>().sqrt();
        let cos: f64 = pooled
            .iter()
            .zip(&ref_pooled[k])
            .map(|(a, b)| a / norm * b)
            .sum::<f64>()
            / ref_pooled[k].iter().map(|x| x * x).sum::<f64>().sqrt();
        println!("MiniLM pooled embedding, sentence {k}: cosine {cos:.8}");
        assert!(cos >= 0.9999, "sentence {k}: cosine {cos}");
    }

    // 4. the retrieval model's text side loads the same weights, and finds the tokenizer
    let text = BertTextEncoderConfig::from_checkpoint(&dir, 32)
        .unwrap()
        .with_freeze(true);
    assert_eq!(text.tokenizer().unwrap(), ckpt.tokenizer);
    let encoder = text.init_pretrained::<B>(&dev).unwrap();
    let again = encoder.bert.forward(ids.clone(), mask_t.clone(), None);
    assert_eq!(again.into_data().to_vec::<f32>().unwrap(), values);
    assert_eq!(encoder.forward(ids, mask_t).tokens.dims(), [n, len, 32]);
}
