//! Helpers shared by the reference tests: loading `../shared/reference` vectors, building
//! tensors from them, and the CLCL loss and gradient check run in each precision.

#![allow(dead_code)] // each test binary uses a part
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::path::PathBuf;

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Bool, Element, Tensor, TensorData};
use san_core::host::to_vec_f32;
use san_core::loss::{CoarseLossConfig, san_fine_loss};
use san_core::similarity::{ClclConfig, clcl_candidates, clcl_gallery};
use serde_json::Value;

/// Loads `../shared/reference/<name>`, or prints why the test skips and gives `None`.
pub fn reference(name: &str) -> Option<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference")
        .join(name);
    match std::fs::read_to_string(&path) {
        Ok(s) => Some(serde_json::from_str(&s).expect("reference JSON parses")),
        Err(e) => {
            eprintln!(
                "skipping: reference vectors not found at {} ({e})",
                path.display()
            );
            None
        }
    }
}

pub fn flat(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(flat).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        Value::Bool(b) => vec![f64::from(u8::from(*b))],
        _ => panic!("unexpected value {v}"),
    }
}

pub fn float<B: AutodiffBackend, const D: usize>(v: &Value, shape: [usize; D]) -> Tensor<B, D> {
    let data: Vec<f64> = flat(v);
    Tensor::from_data(TensorData::new(data, shape), &Default::default())
}

pub fn mask<B: AutodiffBackend, const D: usize>(
    v: &Value,
    shape: [usize; D],
) -> Tensor<B, D, Bool> {
    let data: Vec<bool> = flat(v).into_iter().map(|x| x != 0.0).collect();
    Tensor::from_data(TensorData::new(data, shape), &Default::default())
}

pub fn close(got: &[f32], want: &[f64], what: &str, rel: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let tol = rel * w.abs().max(1.0);
        assert!(
            (f64::from(*g) - w).abs() <= tol,
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

/// The CLCL definitions (DESIGN.md §3.1–3.2) against PyTorch: gallery scores, coarse,
/// fine and total losses, and the gradients of the sign tokens, word tokens and log scale.
pub fn check<B: AutodiffBackend>(doc: &Value, val_rel: f64, grad_rel: f64) {
    for case in doc["cases"].as_array().unwrap() {
        let s = &case["shapes"];
        let [a, m, l, d, k] = ["A", "M", "L", "D", "K"].map(|x| s[x].as_u64().unwrap() as usize);
        let tau = case["tau_tok"].as_f64().unwrap();
        let sign = float::<B, _>(&case["sign_tokens"], [a, m, d]).require_grad();
        let words = float::<B, _>(&case["word_tokens"], [a, l, d]).require_grad();
        let sign_mask = mask::<B, _>(&case["sign_mask"], [a, m]);
        let word_mask = mask::<B, _>(&case["word_mask"], [a, l]);
        let log_scale = float::<B, _>(&case["log_scale"], [1]).require_grad();
        // Burn keeps one default float type per device and process, set by the first
        // tensor made there, and `NdArray<f32>` and `NdArray<f64>` share the CPU device:
        // a float64 check in a process that made a float32 tensor first silently runs in
        // float32. Each precision therefore has its own test binary, and this guards it.
        let want = <B::FloatElem as Element>::dtype();
        assert_eq!(
            sign.dtype(),
            want,
            "inputs are not in the backend's float type"
        );
        let ids: Vec<usize> = flat(&case["text_ids"])
            .into_iter()
            .map(|x| x as usize)
            .collect();

        let cfg = ClclConfig::new().with_tau_tok(tau).with_chunk(2);
        let scores = clcl_gallery(
            sign.clone(),
            sign_mask.clone(),
            words.clone(),
            word_mask.clone(),
            &cfg,
        );
        close(
            &to_vec_f32(scores.v2t.clone()),
            &flat(&case["v2t"]),
            "v2t",
            val_rel,
        );
        close(
            &to_vec_f32(scores.t2v.clone().transpose()),
            &flat(&case["t2v"]),
            "t2v",
            val_rel,
        );
        close(
            &to_vec_f32(scores.score()),
            &flat(&case["score"]),
            "score",
            val_rel,
        );

        let coarse = CoarseLossConfig::new().forward(&scores, log_scale.clone(), &ids);
        close(
            &to_vec_f32(coarse.clone()),
            &[case["coarse_loss"].as_f64().unwrap()],
            "coarse",
            val_rel,
        );

        // Candidates of video a: its own caption, then hard rows a*K .. a*K+K-1.
        let hard = float::<B, _>(&case["hard_word_tokens"], [a, k, l, d]);
        let hard_mask = mask::<B, _>(&case["hard_word_mask"], [a, k, l]);
        let own = words.clone().reshape([a, 1, l, d]);
        let own_mask = word_mask.clone().reshape([a, 1, l]);
        let caps = Tensor::cat(vec![own, hard], 1);
        let caps_mask = Tensor::cat(vec![own_mask, hard_mask], 1);
        let cand = clcl_candidates(sign.clone(), sign_mask, caps, caps_mask, tau);
        let fine = san_fine_loss(cand.v2t, log_scale.clone());
        close(
            &to_vec_f32(fine.clone()),
            &[case["fine_loss"].as_f64().unwrap()],
            "fine",
            val_rel,
        );

        let total = coarse + fine.mul_scalar(case["lambda_fine"].as_f64().unwrap());
        close(
            &to_vec_f32(total.clone()),
            &[case["total_loss"].as_f64().unwrap()],
            "total",
            val_rel,
        );

        let grads = total.backward();
        close(
            &to_vec_f32(sign.grad(&grads).unwrap()),
            &flat(&case["grad_sign_tokens"]),
            "grad sign",
            grad_rel,
        );
        close(
            &to_vec_f32(words.grad(&grads).unwrap()),
            &flat(&case["grad_word_tokens"]),
            "grad words",
            grad_rel,
        );
        close(
            &to_vec_f32(log_scale.grad(&grads).unwrap()),
            &[case["grad_log_scale"].as_f64().unwrap()],
            "grad log scale",
            grad_rel,
        );
    }
}
