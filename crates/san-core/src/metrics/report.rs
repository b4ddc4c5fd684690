//! Retrieval metrics derived from ranks, and the report that gathers them.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::pairwise::FineGrainedDetail;

/// Recall at 1/5/10 (percent), median and mean rank, and mean reciprocal rank.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RetrievalMetrics {
    /// Recall at 1, in percent.
    pub r1: f64,
    /// Recall at 5, in percent.
    pub r5: f64,
    /// Recall at 10, in percent.
    pub r10: f64,
    /// Median rank (the mean of the two middle ranks for an even count).
    pub medr: f64,
    /// Mean rank.
    pub mnr: f64,
    /// Mean reciprocal rank, in [0, 1] (printed in percent).
    pub mrr: f64,
    /// Number of queries.
    pub queries: usize,
}

impl RetrievalMetrics {
    /// Derives every metric from 1-based ranks. An empty slice gives all zeros.
    pub fn from_ranks(ranks: &[usize]) -> Self {
        let n = ranks.len();
        if n == 0 {
            return Self {
                r1: 0.0,
                r5: 0.0,
                r10: 0.0,
                medr: 0.0,
                mnr: 0.0,
                mrr: 0.0,
                queries: 0,
            };
        }
        let recall = |k: usize| 100.0 * ranks.iter().filter(|&&r| r <= k).count() as f64 / n as f64;
        let mut sorted = ranks.to_vec();
        sorted.sort_unstable();
        let medr = if n % 2 == 1 {
            sorted[n / 2] as f64
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) as f64 / 2.0
        };
        Self {
            r1: recall(1),
            r5: recall(5),
            r10: recall(10),
            medr,
            mnr: sorted.iter().sum::<usize>() as f64 / n as f64,
            // Summed in sorted order, so the result depends on the multiset of ranks only.
            mrr: sorted.iter().map(|&r| 1.0 / r as f64).sum::<f64>() / n as f64,
            queries: n,
        }
    }
}

/// Coarse retrieval in both directions, plus fine-grained V2T when measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrievalReport {
    /// Text-to-video.
    pub t2v: RetrievalMetrics,
    /// Video-to-text.
    pub v2t: RetrievalMetrics,
    /// Fine-grained video-to-text over per-query small galleries.
    pub fine_grained: Option<RetrievalMetrics>,
    /// Fine-grained text-to-video: each query against its video and the videos whose
    /// captions are single-word confusable substitutions of it, over the queries that
    /// have such videos.
    #[serde(default)]
    pub fine_grained_t2v: Option<RetrievalMetrics>,
    /// FG-V2T's pairwise accuracy and random-ranking levels (with `fine_grained`).
    #[serde(default)]
    pub fine_grained_detail: Option<FineGrainedDetail>,
    /// FG-T2V's (with `fine_grained_t2v`).
    #[serde(default)]
    pub fine_grained_t2v_detail: Option<FineGrainedDetail>,
    /// FG-V2T ranked by `z_v2t` alone, as the SAN research code ranks it (`fine_grained`
    /// ranks by the mean of both directions).
    #[serde(default)]
    pub fine_grained_v2t_only: Option<RetrievalMetrics>,
}

impl fmt::Display for RetrievalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<8} {:>6} {:>6} {:>6} {:>6} {:>7} {:>6}",
            "task", "R@1", "R@5", "R@10", "MedR", "MnR", "MRR %"
        )?;
        let mut row = |name: &str, m: &RetrievalMetrics| {
            writeln!(
                f,
                "{:<8} {:>6.1} {:>6.1} {:>6.1} {:>6.1} {:>7.1} {:>6.1}",
                name,
                m.r1,
                m.r5,
                m.r10,
                m.medr,
                m.mnr,
                100.0 * m.mrr
            )
        };
        row("T2V", &self.t2v)?;
        row("V2T", &self.v2t)?;
        if let Some(fg) = &self.fine_grained {
            row("FG-V2T", fg)?;
        }
        if let Some(fg) = &self.fine_grained_t2v {
            row("FG-T2V", fg)?;
        }
        if let Some(fg) = &self.fine_grained_v2t_only {
            row("FG-V2T*", fg)?;
            writeln!(
                f,
                "FG-V2T*: ranked by the video→text score alone (the research code's)"
            )?;
        }
        for (name, detail) in [
            ("FG-V2T", &self.fine_grained_detail),
            ("FG-T2V", &self.fine_grained_t2v_detail),
        ] {
            if let Some(d) = detail {
                writeln!(f, "{}", detail_line(name, d))?;
            }
        }
        Ok(())
    }
}

/// One line: a fine-grained direction's pairwise accuracy and what a random ranking of the
/// same galleries scores.
pub fn detail_line(name: &str, d: &FineGrainedDetail) -> String {
    format!(
        "{name}: pairwise accuracy {:.1}% of {} (true, distractor) pairs (chance 50.0); \
         a random ranking scores R@1 {:.1}, R@5 {:.1}, R@10 {:.1}, MnR {:.1}, MRR {:.1} %",
        d.pairwise,
        d.pairs,
        d.random_r1,
        d.random_r5,
        d.random_r10,
        d.random_mnr,
        100.0 * d.random_mrr
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_from_hand_ranks() {
        // ranks [2, 4, 3, 1] (hand arithmetic): R@1 25, MedR (2+3)/2, MnR 2.5,
        // MRR (1/2 + 1/4 + 1/3 + 1) / 4.
        let m = RetrievalMetrics::from_ranks(&[2, 4, 3, 1]);
        assert_eq!(m.r1, 25.0);
        assert_eq!(m.r5, 100.0);
        assert_eq!(m.medr, 2.5);
        assert_eq!(m.mnr, 2.5);
        assert!((m.mrr - (0.5 + 0.25 + 1.0 / 3.0 + 1.0) / 4.0).abs() < 1e-12);
    }

    #[test]
    fn report_displays_a_table() {
        let m = RetrievalMetrics::from_ranks(&[1]);
        let r = RetrievalReport {
            t2v: m,
            v2t: m,
            fine_grained: Some(m),
            fine_grained_t2v: None,
            fine_grained_detail: FineGrainedDetail::from_ranks(&[1], &[4]),
            fine_grained_t2v_detail: None,
            fine_grained_v2t_only: None,
        };
        let s = r.to_string();
        assert!(s.contains("T2V") && s.contains("FG-V2T") && s.contains("100.0"));
        // Rank 1 of 4: 3 of 3 pairs; random R@1 1/4, MRR (1 + 1/2 + 1/3 + 1/4)/4 = 52.1%.
        assert!(
            s.contains("FG-V2T: pairwise accuracy 100.0% of 3 (true, distractor) pairs"),
            "{s}"
        );
        assert!(s.contains("R@1 25.0") && s.contains("MRR 52.1 %"), "{s}");
    }
}
