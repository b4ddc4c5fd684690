//! Checks against `../shared/reference/clcl_losses.json`, computed independently in PyTorch
//! (float64) from DESIGN.md §3.1–3.2. Skips, with a message, when the folder is absent.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::path::PathBuf;

use burn::backend::Autodiff;
#[cfg(not(feature = "test-wgpu"))]
use burn::backend::NdArray;

/// The float32 backend under test: ndarray, or WGPU with the `test-wgpu` feature.
#[cfg(not(feature = "test-wgpu"))]
type F32 = NdArray<f32>;
#[cfg(feature = "test-wgpu")]
type F32 = burn::backend::Wgpu;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Bool, Tensor, TensorData};
use san_core::host::to_vec_f32;
use san_core::loss::{CoarseLossConfig, san_fine_loss};
use san_core::metrics::{DuplicatePolicy, RetrievalMetrics, coarse_report, ranks};
use san_core::mining::{Embeddings, InstanceMinerConfig, MiningSpace, mine_instances};
use san_core::similarity::{ClclConfig, ClclKernel, clcl_candidates, clcl_gallery};
use serde_json::Value;

/// The tests of this file run one at a time: once, under a full parallel test run, the
/// float64 gradient check came out with a float32-sized error (1.8e-4 relative), and never
/// when run alone; until that is understood, no other kernel runs beside it.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn reference(name: &str) -> Option<Value> {
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

fn flat(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(flat).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        Value::Bool(b) => vec![f64::from(u8::from(*b))],
        _ => panic!("unexpected value {v}"),
    }
}

fn float<B: AutodiffBackend, const D: usize>(v: &Value, shape: [usize; D]) -> Tensor<B, D> {
    let data: Vec<f64> = flat(v);
    Tensor::from_data(TensorData::new(data, shape), &Default::default())
}

fn mask<B: AutodiffBackend, const D: usize>(v: &Value, shape: [usize; D]) -> Tensor<B, D, Bool> {
    let data: Vec<bool> = flat(v).into_iter().map(|x| x != 0.0).collect();
    Tensor::from_data(TensorData::new(data, shape), &Default::default())
}

fn close(got: &[f32], want: &[f64], what: &str, rel: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let tol = rel * w.abs().max(1.0);
        assert!(
            (f64::from(*g) - w).abs() <= tol,
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

/// The definitions checked in float64 (tight: only the f32 read-back rounds), then in
/// float32, where the token softmax (1/τ = 14.3) and the logit scale (14.3) amplify
/// rounding in the gradients, so they get a looser bound than the values.
#[test]
fn clcl_losses_and_gradients_match_pytorch() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(doc) = reference("clcl_losses.json") else {
        return;
    };
    // The float64 check runs on one rayon thread. With burn-ndarray's default pool, about
    // 1 process in 15 that ran another test first got gradients 1.8e-4 off (always the
    // same wrong value) — never in 40 runs with one thread: a data race in the
    // multi-threaded CPU backend, not a precision question. The one-thread pool made it
    // rarer but did not remove it (it failed once more in CI). See BENCHMARKS.md, "Known
    // issues".
    #[cfg(not(feature = "test-wgpu"))]
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| check::<Autodiff<NdArray<f64>>>(&doc, 1e-6, 1e-6));
    check::<Autodiff<F32>>(&doc, 1e-5, 3e-4);
}

fn check<B: AutodiffBackend>(doc: &Value, val_rel: f64, grad_rel: f64) {
    for case in doc["cases"].as_array().unwrap() {
        let s = &case["shapes"];
        let [a, m, l, d, k] = ["A", "M", "L", "D", "K"].map(|x| s[x].as_u64().unwrap() as usize);
        let tau = case["tau_tok"].as_f64().unwrap();
        let sign = float::<B, _>(&case["sign_tokens"], [a, m, d]).require_grad();
        let words = float::<B, _>(&case["word_tokens"], [a, l, d]).require_grad();
        let sign_mask = mask::<B, _>(&case["sign_mask"], [a, m]);
        let word_mask = mask::<B, _>(&case["word_mask"], [a, l]);
        let log_scale = float::<B, _>(&case["log_scale"], [1]).require_grad();
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

/// The fused CPU kernel (values only) against the same PyTorch values, in float32.
#[test]
fn fused_kernel_matches_pytorch() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    type A = Autodiff<F32>;
    let Some(doc) = reference("clcl_losses.json") else {
        return;
    };
    for case in doc["cases"].as_array().unwrap() {
        let s = &case["shapes"];
        let [a, m, l, d] = ["A", "M", "L", "D"].map(|x| s[x].as_u64().unwrap() as usize);
        let cfg = ClclConfig::new()
            .with_tau_tok(case["tau_tok"].as_f64().unwrap())
            .with_kernel(ClclKernel::Fused);
        let scores = clcl_gallery(
            float::<A, _>(&case["sign_tokens"], [a, m, d]).inner(),
            mask::<A, _>(&case["sign_mask"], [a, m]).inner(),
            float::<A, _>(&case["word_tokens"], [a, l, d]).inner(),
            mask::<A, _>(&case["word_mask"], [a, l]).inner(),
            &cfg,
        );
        close(
            &to_vec_f32(scores.v2t.clone()),
            &flat(&case["v2t"]),
            "v2t",
            1e-5,
        );
        close(
            &to_vec_f32(scores.t2v.transpose()),
            &flat(&case["t2v"]),
            "t2v",
            1e-5,
        );
    }
}

/// `../shared/reference/metrics_small.json` (PyTorch): ranks with ties against the model,
/// R@1/5/10, MedR and MnR, both directions, Strict and AnyMatch. `s` is `[text, video]`:
/// T2V ranks its rows, V2T the rows of its transpose.
#[test]
fn metrics_match_pytorch() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(doc) = reference("metrics_small.json") else {
        return;
    };
    let cases = doc["cases"].as_object().unwrap();
    assert_eq!(cases.len(), 5);
    for (name, case) in cases {
        let s: Vec<f32> = flat(&case["s"]).into_iter().map(|x| x as f32).collect();
        let n = case["s"].as_array().unwrap().len();
        let ids: Vec<usize> = flat(&case["text_ids"])
            .into_iter()
            .map(|x| x as usize)
            .collect();
        let mut st = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                st[j * n + i] = s[i * n + j];
            }
        }
        for (dir, matrix) in [("t2v", &s), ("v2t", &st)] {
            for (pol, policy) in [
                ("strict", DuplicatePolicy::Strict),
                ("anymatch", DuplicatePolicy::AnyMatch),
            ] {
                let want = &case["expected"][format!("{dir}_{pol}")];
                let got = ranks(matrix, n, &ids, policy);
                let want_ranks: Vec<usize> = flat(&want["ranks"])
                    .into_iter()
                    .map(|x| x as usize)
                    .collect();
                assert_eq!(got, want_ranks, "{name} {dir} {pol} ranks");
                let m = RetrievalMetrics::from_ranks(&got);
                for (key, value) in [
                    ("R@1", m.r1),
                    ("R@5", m.r5),
                    ("R@10", m.r10),
                    ("MedR", m.medr),
                    ("MnR", m.mnr),
                ] {
                    let w = want[key].as_f64().unwrap();
                    assert!(
                        (value - w).abs() < 1e-9,
                        "{name} {dir} {pol} {key}: {value} vs {w}"
                    );
                }
                // Both directions of the report agree with the rank function.
                if dir == "v2t" {
                    let report = coarse_report(matrix, n, &ids, policy);
                    assert_eq!(report.v2t, m, "{name} report v2t");
                }
            }
        }
    }
}

/// `../shared/reference/mining_small_seed7.json` (PyTorch, checked in float64): sign-aware
/// and semantic instance mining with the identical-text, τ_sem and positive-aware
/// exclusions, and sign-aware with the self and text-id exclusions only. N=257, K=5.
#[test]
fn instance_mining_matches_pytorch() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(doc) = reference("mining_small_seed7.json") else {
        return;
    };
    let p = &doc["params"];
    let (n, d, k) = (
        p["n"].as_u64().unwrap() as usize,
        p["d"].as_u64().unwrap() as usize,
        p["k"].as_u64().unwrap() as usize,
    );
    let video: Vec<f32> = flat(&doc["inputs"]["v"])
        .into_iter()
        .map(|x| x as f32)
        .collect();
    let text: Vec<f32> = flat(&doc["inputs"]["t"])
        .into_iter()
        .map(|x| x as f32)
        .collect();
    let ids: Vec<usize> = flat(&doc["inputs"]["text_ids"])
        .into_iter()
        .map(|x| x as usize)
        .collect();
    let emb = Embeddings {
        video: &video,
        text: &text,
        n,
        dim: d,
    };
    let full = InstanceMinerConfig {
        k,
        tau_sem: Some(p["tau_sem"].as_f64().unwrap() as f32),
        beta_pos: Some(p["beta"].as_f64().unwrap() as f32),
        chunk: p["chunk"].as_u64().unwrap() as usize,
        ..InstanceMinerConfig::default()
    };
    let cases = [
        ("signaware", MiningSpace::SignAware, full.clone()),
        ("semantic", MiningSpace::Semantic, full.clone()),
        (
            "signaware_ids_only",
            MiningSpace::SignAware,
            InstanceMinerConfig {
                tau_sem: None,
                beta_pos: None,
                ..full
            },
        ),
    ];
    for (name, space, cfg) in cases {
        let mined = mine_instances(emb, &ids, &InstanceMinerConfig { space, ..cfg });
        let want = &doc["outputs"][name];
        for i in 0..n {
            let want_idx: Vec<i64> = flat(&want["indices"][i])
                .into_iter()
                .map(|x| x as i64)
                .collect();
            let got: Vec<i64> = mined.indices[i].iter().map(|&j| j as i64).collect();
            // The reference pads a short list with -1; ours returns it shorter.
            let want_real: Vec<i64> = want_idx.iter().copied().filter(|&j| j >= 0).collect();
            assert_eq!(got, want_real, "{name}: anchor {i}");
            let want_scores = flat(&want["scores"][i]);
            for (g, w) in mined.scores[i].iter().zip(&want_scores) {
                assert!(
                    (f64::from(*g) - w).abs() < 1e-5,
                    "{name}: anchor {i} score {g} vs {w}"
                );
            }
        }
    }
}
