//! Scoring a fine-grained benchmark (`DESIGN.md` §3.5) against a gallery's tokens: FG-V2T
//! ranks each query video's true caption among its distractor captions, FG-T2V ranks each
//! query caption's video among its distractor videos.

use std::collections::HashMap;

use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor, TensorData};

use super::pairwise::FineGrainedDetail;
use super::ranks::gallery_ranks;
use super::report::RetrievalMetrics;
use crate::host::to_vec_f32;
use crate::mining::FineGrainedBenchmark;
use crate::similarity::{ClclConfig, clcl_candidates_with, clcl_gallery};

/// Fine-grained metrics of a benchmark; `None` for a direction with no query (a metric
/// over zero items is not a number).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FineGrainedScores {
    /// FG-V2T over the queries with at least one distractor caption.
    pub v2t: Option<RetrievalMetrics>,
    /// FG-T2V over the queries with at least one distractor video in the gallery.
    pub t2v: Option<RetrievalMetrics>,
    /// FG-V2T's pairwise accuracy and random-ranking levels.
    pub v2t_detail: Option<FineGrainedDetail>,
    /// FG-V2T ranked by the video→text score `z_v2t` alone, as the SAN research code
    /// ranks it (ours ranks by the mean of both directions).
    pub v2t_by_v2t: Option<RetrievalMetrics>,
    /// FG-T2V's.
    pub t2v_detail: Option<FineGrainedDetail>,
}

/// Scores `benchmark` against a gallery: `names[i]` names row `i` of the clip tokens
/// `sign` and caption tokens `text`. `encode` gives the tokens of a list of captions (the
/// query's true caption first, then its distractors) with the model that made `text`.
/// Queries whose name is not in the gallery are skipped. Ranks count ties against the
/// model.
///
/// # Shapes
/// - `sign`: `[N, M, D]` and `[N, M]`; `text`: `[N, L, D]` and `[N, L]`
/// - `encode(captions)`: `[K, L', D]` and `[K, L']` for `K` captions
pub fn score_fine_grained<B: Backend>(
    benchmark: &FineGrainedBenchmark,
    names: &[String],
    sign: (Tensor<B, 3>, Tensor<B, 2, Bool>),
    text: (Tensor<B, 3>, Tensor<B, 2, Bool>),
    mut encode: impl FnMut(&[Vec<String>]) -> (Tensor<B, 3>, Tensor<B, 2, Bool>),
    clcl: &ClclConfig,
) -> FineGrainedScores {
    let (sign, sign_mask) = sign;
    let (text, text_mask) = text;
    let index: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let [_, m, d] = sign.dims();
    let [_, l_text, _] = text.dims();
    let device = sign.device();
    let (mut v2t, mut t2v, mut v2t_only) = (Vec::new(), Vec::new(), Vec::new());
    for item in &benchmark.items {
        let Some(&i) = index.get(item.name.as_str()) else {
            continue;
        };
        if !item.distractors.is_empty() {
            let captions: Vec<Vec<String>> = std::iter::once(&item.caption)
                .chain(&item.distractors)
                .cloned()
                .collect();
            let (tokens, mask) = encode(&captions);
            let [k, l, _] = tokens.dims();
            let cand = clcl_candidates_with(
                sign.clone().narrow(0, i, 1),
                sign_mask.clone().narrow(0, i, 1).reshape([1, m]),
                tokens.reshape([1, k, l, d]),
                mask.reshape([1, k, l]),
                clcl,
            );
            v2t.push(to_vec_f32(cand.score()));
            v2t_only.push(to_vec_f32(cand.v2t));
        }
        let videos: Vec<i64> = std::iter::once(i)
            .chain(
                item.distractor_videos
                    .iter()
                    .filter_map(|v| index.get(v.as_str()).copied()),
            )
            .map(|j| j as i64)
            .collect();
        if videos.len() > 1 {
            let k = videos.len();
            let pick = Tensor::<B, 1, Int>::from_data(TensorData::new(videos, [k]), &device);
            let scores = clcl_gallery(
                sign.clone().select(0, pick.clone()),
                sign_mask.clone().select(0, pick),
                text.clone().narrow(0, i, 1),
                text_mask.clone().narrow(0, i, 1).reshape([1, l_text]),
                clcl,
            );
            t2v.push(to_vec_f32(scores.score()));
        }
    }
    let metrics = |g: &[Vec<f32>]| {
        let ranks = gallery_ranks(g);
        let sizes: Vec<usize> = g.iter().map(Vec::len).collect();
        (
            (!g.is_empty()).then(|| RetrievalMetrics::from_ranks(&ranks)),
            FineGrainedDetail::from_ranks(&ranks, &sizes),
        )
    };
    let ((v2t, v2t_detail), (t2v, t2v_detail)) = (metrics(&v2t), metrics(&t2v));
    FineGrainedScores {
        v2t,
        t2v,
        v2t_detail,
        t2v_detail,
        v2t_by_v2t: metrics(&v2t_only).0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mining::FineGrainedItem;
    use crate::test_backend::B;

    fn tensor3(v: Vec<f32>, shape: [usize; 3]) -> Tensor<B, 3> {
        Tensor::from_data(TensorData::new(v, shape), &Default::default())
    }

    fn ones(shape: [usize; 2]) -> Tensor<B, 2, Bool> {
        Tensor::ones(shape, &Default::default())
    }

    #[test]
    fn one_token_each_ranks_by_the_dot_product() {
        // One clip and one word per item, so every CLCL score is the dot product (the
        // softmax over a single token is 1). Videos a = (1, 0), b = (0, 1); captions
        // "x" = (1, 0) (a's), "y" = (0, 1) (b's), "z" = (0.6, 0.8).
        let names = vec!["a".to_string(), "b".to_string()];
        let sign = (tensor3(vec![1.0, 0.0, 0.0, 1.0], [2, 1, 2]), ones([2, 1]));
        let text = (tensor3(vec![1.0, 0.0, 0.0, 1.0], [2, 1, 2]), ones([2, 1]));
        let word = |w: &str| match w {
            "x" => [1.0, 0.0],
            "y" => [0.0, 1.0],
            _ => [0.6, 0.8],
        };
        let encode = |captions: &[Vec<String>]| {
            let v: Vec<f32> = captions.iter().flat_map(|c| word(&c[0])).collect();
            (
                tensor3(v, [captions.len(), 1, 2]),
                ones([captions.len(), 1]),
            )
        };
        let item =
            |name: &str, caption: &str, distractors: &[&str], videos: &[&str]| FineGrainedItem {
                name: name.into(),
                caption: vec![caption.into()],
                distractors: distractors.iter().map(|d| vec![d.to_string()]).collect(),
                distractor_videos: videos.iter().map(|v| v.to_string()).collect(),
            };
        let benchmark = FineGrainedBenchmark {
            source: "hand".into(),
            max_distractors: 2,
            seed: 0,
            items: vec![
                // a vs its caption x (1.0) and z (0.6): rank 1.
                item("a", "x", &["z"], &["b"]),
                // b vs y (1.0), z (0.8) and x (0.0): rank 1; "c" is not in the gallery.
                item("b", "y", &["z", "x"], &[]),
                item("c", "x", &["y"], &[]),
            ],
        };
        let s = score_fine_grained(&benchmark, &names, sign, text, encode, &ClclConfig::new());
        let v2t = s.v2t.unwrap();
        assert_eq!((v2t.queries, v2t.r1), (2, 100.0));
        // Pairs: a's (x over z) and b's (y over z, y over x), all won: 3 of 3. Random R@1
        // over galleries of 2 and 3: (1/2 + 1/3)/2 = 41.7% (hand arithmetic).
        let d = s.v2t_detail.unwrap();
        assert_eq!((d.pairwise, d.pairs), (100.0, 3));
        assert!((d.random_r1 - 100.0 * 5.0 / 12.0).abs() < 1e-9);
        // T2V: caption x against videos a (1.0) and b (0.0): rank 1, one query.
        let t2v = s.t2v.unwrap();
        assert_eq!((t2v.queries, t2v.r1), (1, 100.0));
        // A benchmark without distractors has no fine-grained metric.
        let empty = FineGrainedBenchmark {
            items: vec![item("a", "x", &[], &[])],
            ..benchmark
        };
        let names2 = names.clone();
        let sign = (tensor3(vec![1.0, 0.0, 0.0, 1.0], [2, 1, 2]), ones([2, 1]));
        let text = (tensor3(vec![1.0, 0.0, 0.0, 1.0], [2, 1, 2]), ones([2, 1]));
        let s = score_fine_grained(&empty, &names2, sign, text, encode, &ClclConfig::new());
        assert_eq!((s.v2t, s.t2v), (None, None));
    }

    /// Video "a" with `m` clip tokens `clips` (dimension 2) scored against its
    /// true caption "t" = one word (0.6, 0.8) and one distractor "d" = one word (1, 0).
    fn truth_and_one_distractor(clips: Vec<f32>, m: usize) -> FineGrainedScores {
        let names = vec!["a".to_string()];
        let sign = (tensor3(clips, [1, m, 2]), ones([1, m]));
        let text = (tensor3(vec![0.6, 0.8], [1, 1, 2]), ones([1, 1]));
        let encode = |captions: &[Vec<String>]| {
            assert_eq!(captions.len(), 2);
            (tensor3(vec![0.6, 0.8, 1.0, 0.0], [2, 1, 2]), ones([2, 1]))
        };
        let benchmark = FineGrainedBenchmark {
            source: "hand".into(),
            max_distractors: 1,
            seed: 0,
            items: vec![FineGrainedItem {
                name: "a".into(),
                caption: vec!["t".into()],
                distractors: vec![vec!["d".into()]],
                distractor_videos: Vec::new(),
            }],
        };
        score_fine_grained(&benchmark, &names, sign, text, encode, &ClclConfig::new())
    }

    #[test]
    fn a_distractor_scoring_above_the_truth_ranks_it_second() {
        // Video (1, 0); true caption (0.6, 0.8) scores 0.6, distractor (1, 0) scores 1.
        let s = truth_and_one_distractor(vec![1.0, 0.0], 1);
        let v2t = s.v2t.unwrap();
        assert_eq!((v2t.r1, v2t.medr), (0.0, 2.0));
        assert_eq!(s.t2v, None);
        // One pair, lost: pairwise 0%; a random ranking of 2 has R@1 50%, MRR 75%.
        let d = s.v2t_detail.unwrap();
        assert_eq!((d.pairwise, d.pairs, d.random_r1), (0.0, 1, 50.0));
        assert!((d.random_mrr - 0.75).abs() < 1e-12);
        assert_eq!(s.t2v_detail, None);
        // One token each: z_v2t = z_t2v = the dot product, so both rankings agree.
        assert_eq!(s.v2t_by_v2t, s.v2t);
    }

    #[test]
    fn the_research_codes_ranking_by_z_v2t_alone_can_disagree() {
        // Video clips (1, 0) and (0, 1); true caption one word t = (0.6, 0.8), distractor
        // d = (1, 0); τ = 0.07. Hand arithmetic:
        //   z_v2t(t) = (0.6 + 0.8)/2 = 0.7; z_t2v(t) = softmax((0.6, 0.8)/τ)·(0.6, 0.8)
        //     = 0.6·0.0543 + 0.8·0.9457 = 0.789 (weights 1/(1 + e^{±2.857}));
        //   z_v2t(d) = (1 + 0)/2 = 0.5;   z_t2v(d) ≈ 1.0 (weights 1/(1 + e^{±14.29})).
        // Mean of both: t 0.745 < d 0.750, so the truth ranks 2nd; by z_v2t alone it ranks 1st.
        let s = truth_and_one_distractor(vec![1.0, 0.0, 0.0, 1.0], 2);
        assert_eq!(
            s.v2t.unwrap().r1,
            0.0,
            "the mean of both directions ranks d first"
        );
        assert_eq!(s.v2t_by_v2t.unwrap().r1, 100.0, "z_v2t alone ranks t first");
    }
}
