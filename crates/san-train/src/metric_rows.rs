//! The metric rows a run report prints (console and `report.md`): the coarse rows, and the
//! fine-grained rows with their pairwise accuracy and random-ranking levels.

use san_core::metrics::RetrievalReport;

/// The metric rows of a report; with `benchmark` (a fine-grained benchmark was given) the
/// FG-V2T rows are present even when no query had a distractor, with no value (`n/a`).
pub(crate) fn metric_rows(
    r: &RetrievalReport,
    benchmark: bool,
) -> Vec<(&'static str, Option<f64>)> {
    let mut rows: Vec<(&'static str, Option<f64>)> = vec![
        ("T2V R@1", Some(r.t2v.r1)),
        ("T2V R@5", Some(r.t2v.r5)),
        ("T2V R@10", Some(r.t2v.r10)),
        ("T2V MedR", Some(r.t2v.medr)),
        ("V2T R@1", Some(r.v2t.r1)),
        ("V2T R@5", Some(r.v2t.r5)),
        ("V2T R@10", Some(r.v2t.r10)),
        ("V2T MedR", Some(r.v2t.medr)),
    ];
    if benchmark || r.fine_grained.is_some() {
        let m = r.fine_grained.as_ref();
        rows.extend([
            ("FG-V2T R@1", m.map(|m| m.r1)),
            ("FG-V2T R@5", m.map(|m| m.r5)),
            ("FG-V2T MRR", m.map(|m| 100.0 * m.mrr)),
        ]);
        let d = r.fine_grained_detail.as_ref();
        rows.extend([
            ("FG-V2T pairwise %", d.map(|d| d.pairwise)),
            ("FG-V2T pairwise, random", d.map(|_| 50.0)),
            ("FG-V2T R@1, random", d.map(|d| d.random_r1)),
            ("FG-V2T R@5, random", d.map(|d| d.random_r5)),
            ("FG-V2T MRR, random", d.map(|d| 100.0 * d.random_mrr)),
        ]);
        // The research code ranks FG-V2T by the video→text score alone.
        let v = r.fine_grained_v2t_only.as_ref();
        rows.extend([
            ("FG-V2T R@1, z_v2t only", v.map(|m| m.r1)),
            ("FG-V2T MRR, z_v2t only", v.map(|m| 100.0 * m.mrr)),
        ]);
    }
    if let Some(m) = &r.fine_grained_t2v {
        rows.extend([
            ("FG-T2V R@1", Some(m.r1)),
            ("FG-T2V MRR", Some(100.0 * m.mrr)),
        ]);
        if let Some(d) = &r.fine_grained_t2v_detail {
            rows.extend([
                ("FG-T2V pairwise %", Some(d.pairwise)),
                ("FG-T2V R@1, random", Some(d.random_r1)),
                ("FG-T2V MRR, random", Some(100.0 * d.random_mrr)),
            ]);
        }
    }
    rows
}

/// A metric value, or `n/a` for a metric over zero items.
pub(crate) fn value(v: Option<f64>) -> String {
    v.map_or("n/a".to_string(), |v| format!("{v:.1}"))
}
