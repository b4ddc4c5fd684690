//! The whole method on san-core alone: `cargo run --release --example core_api`.
//!
//! A toy world stands in for a trained dual encoder. Every word has a sign (a unit vector
//! in sign space), and two pairs of words have signs that look alike ("regen"/"schnee",
//! "nord"/"sued") while meaning different things. A clip is the signs of its sentence's
//! words plus noise, one clip token per word; a caption's word tokens are the signs of its
//! words, as a well-aligned model would give them. From there, with san-core only:
//! CLCL scores and coarse metrics, the coarse loss, reliable sign–word pairs, the SAN
//! table, hard-negative captions and the fine loss, a fine-grained benchmark scored in
//! one call, and instance-level mining.

use burn::backend::NdArray;
use burn::tensor::{Bool, Tensor, TensorData};
use san_core::loss::{CoarseLossConfig, san_fine_loss};
use san_core::metrics::{DuplicatePolicy, coarse_report, score_fine_grained};
use san_core::mining::{
    ConfusabilityTable, Embeddings, FineGrainedBenchmark, InstanceMinerConfig, ReliablePairs,
    TableConfig, mine_instances, substitute,
};
use san_core::rand::rngs::StdRng;
use san_core::rand::{RngExt, SeedableRng};
use san_core::similarity::{ClclConfig, ClclKernel, clcl_candidates, clcl_gallery, l2_normalize};

type B = NdArray<f32>;

const D: usize = 16;
const WORDS: [&str; 10] = [
    "am", "montag", "dienstag", "regen", "schnee", "sonne", "im", "nord", "sued", "west",
];

/// Each word's sign: a random unit vector, with "schnee" close to "regen" and "sued" close
/// to "nord" (visually confusable), everything else unrelated.
fn signs(rng: &mut StdRng) -> Vec<Vec<f32>> {
    let unit = |v: Vec<f32>| {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect::<Vec<f32>>()
    };
    let mut out: Vec<Vec<f32>> = (0..WORDS.len())
        .map(|_| unit((0..D).map(|_| rng.random_range(-1.0..1.0)).collect()))
        .collect();
    for (near, base) in [(4, 3), (8, 7)] {
        let jitter: Vec<f32> = (0..D).map(|_| rng.random_range(-0.1..0.1)).collect();
        out[near] = unit(out[base].iter().zip(jitter).map(|(a, b)| a + b).collect());
    }
    out
}

fn id(word: &str) -> usize {
    WORDS.iter().position(|w| *w == word).unwrap_or(0)
}

/// `[n, len, D]` tokens (the signs of each sentence's words, padded with zeros), a mask,
/// and `noise` added to every real token before normalising.
fn tokens(
    sentences: &[Vec<String>],
    signs: &[Vec<f32>],
    noise: f32,
    rng: &mut StdRng,
) -> (Tensor<B, 3>, Tensor<B, 2, Bool>) {
    let len = sentences.iter().map(Vec::len).max().unwrap_or(1);
    let (mut values, mut mask) = (Vec::new(), Vec::new());
    for s in sentences {
        for j in 0..len {
            match s.get(j) {
                Some(w) => {
                    values.extend(
                        signs[id(w)]
                            .iter()
                            .map(|x| x + noise * rng.random_range(-1.0..1.0)),
                    );
                    mask.push(true);
                }
                None => {
                    values.extend([0.0; D]);
                    mask.push(false);
                }
            }
        }
    }
    let device = Default::default();
    let n = sentences.len();
    (
        l2_normalize(Tensor::from_data(
            TensorData::new(values, [n, len, D]),
            &device,
        )),
        Tensor::from_data(TensorData::new(mask, [n, len]), &device),
    )
}

fn main() {
    let mut rng = StdRng::seed_from_u64(7);
    let signs = signs(&mut rng);
    let sentences: Vec<Vec<String>> = [
        "am montag regen im nord",
        "am dienstag schnee im sued",
        "am montag sonne im west",
        "am dienstag regen im sued",
        "am montag schnee im nord",
        "am dienstag sonne im nord",
        "regen im west",
        "schnee im west",
    ]
    .iter()
    .map(|s| san_core::text::words(s))
    .collect();
    let n = sentences.len();
    let text_ids: Vec<usize> = (0..n).collect();
    let (clips, clip_mask) = tokens(&sentences, &signs, 0.3, &mut rng);
    let (words, word_mask) = tokens(&sentences, &signs, 0.0, &mut rng);

    // 1. CLCL similarity of every clip with every caption, and the coarse metrics. On a
    //    CPU backend the caller may pick the fused host kernel (same values).
    let clcl = ClclConfig::new().with_kernel(ClclKernel::Fused);
    let scores = clcl_gallery(
        clips.clone(),
        clip_mask.clone(),
        words.clone(),
        word_mask.clone(),
        &clcl,
    );
    let host = san_core::host::to_vec_f32(scores.score());
    let report = coarse_report(&host, n, &text_ids, DuplicatePolicy::Strict);
    println!(
        "coarse: T2V R@1 {:.1}, V2T R@1 {:.1} over {n} pairs",
        report.t2v.r1, report.v2t.r1
    );

    // 2. The coarse InfoNCE loss at logit scale exp(λ_s) = 10.
    let log_scale = Tensor::<B, 1>::from_floats([10f32.ln()], &Default::default());
    let coarse = CoarseLossConfig::new().forward(&scores, log_scale.clone(), &text_ids);
    println!("coarse loss {:.4}", coarse.into_scalar());

    // 3. Reliable sign–word pairs (α = 0.7) and the SAN table (β = 0.7). "am" and "im" are
    //    function words: not mined.
    let stop = ["am", "im"];
    let ids: Vec<Vec<Option<usize>>> = sentences
        .iter()
        .map(|s| {
            s.iter()
                .map(|w| (!stop.contains(&w.as_str())).then(|| id(w)))
                .collect()
        })
        .collect();
    let mut pairs = ReliablePairs::new(16);
    pairs.add_batch(
        clips.clone(),
        clip_mask.clone(),
        words.clone(),
        &ids,
        0.07,
        0.7,
    );
    let vocab: Vec<String> = WORDS.iter().map(|w| w.to_string()).collect();
    let table = ConfusabilityTable::sign_aware(&pairs, &vocab, &TableConfig::new(), None);
    println!(
        "reliable pairs: {} of {} word occurrences; SAN table:",
        pairs.reliable(),
        pairs.seen()
    );
    for (a, b, score) in table.ranked_pairs() {
        println!("  {score:.3}  {a} ~ {b}");
    }

    // 4. Hard-negative captions (N_swap = 2, N_hard = 3) and the fine loss over them.
    let hard: Vec<Vec<Vec<String>>> = sentences
        .iter()
        .map(|s| {
            let mut h = substitute(s, &table, 2, 3, &mut rng);
            while h.len() < 3 {
                h.push(sentences[(h.len() + 1) % n].clone()); // the batch fills the rest
            }
            h
        })
        .collect();
    println!(
        "hard captions of {:?}: {:?}",
        sentences[0].join(" "),
        hard[0]
    );
    let candidates: Vec<Vec<String>> = sentences
        .iter()
        .zip(&hard)
        .flat_map(|(s, h)| std::iter::once(s.clone()).chain(h.iter().cloned()))
        .collect();
    let (cand, cand_mask) = tokens(&candidates, &signs, 0.0, &mut rng);
    let [_, l, _] = cand.dims();
    let v2t = clcl_candidates(
        clips.clone(),
        clip_mask.clone(),
        cand.reshape([n, 4, l, D]),
        cand_mask.reshape([n, 4, l]),
        0.07,
    )
    .v2t;
    println!(
        "fine loss {:.4}",
        san_fine_loss(v2t, log_scale).into_scalar()
    );

    // 5. The fine-grained benchmark from the table, scored against the gallery in one call.
    let names: Vec<String> = (0..n).map(|i| format!("clip-{i}")).collect();
    let queries: Vec<(String, Vec<String>)> = names
        .iter()
        .cloned()
        .zip(sentences.iter().cloned())
        .collect();
    let benchmark = FineGrainedBenchmark::build(&queries, &table, 40, 7, "toy SAN table");
    let fg = score_fine_grained(
        &benchmark,
        &names,
        (clips.clone(), clip_mask.clone()),
        (words.clone(), word_mask.clone()),
        |captions| tokens(captions, &signs, 0.0, &mut StdRng::seed_from_u64(0)),
        &clcl,
    );
    match fg.v2t {
        Some(m) => println!("FG-V2T R@1 {:.1} over {} queries", m.r1, m.queries),
        None => println!("FG-V2T: n/a (no query has a distractor)"),
    }

    // 6. Instance-level mining: each clip's nearest other clips in sign space.
    let pooled =
        |t: Tensor<B, 3>| san_core::host::to_vec_f32(l2_normalize(t.mean_dim(1).reshape([n, D])));
    let (video, text) = (pooled(clips), pooled(words));
    let mined = mine_instances(
        Embeddings {
            video: &video,
            text: &text,
            n,
            dim: D,
        },
        &text_ids,
        &InstanceMinerConfig {
            k: 2,
            ..InstanceMinerConfig::default()
        },
    );
    println!("nearest clips of clip-0: {:?}", mined.indices[0]);
}
