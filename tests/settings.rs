//! Settings from the command line reach the method: `--set mining.reliable.alpha=…`
//! changes the SAN table a model gives, through the same `load_config` as `san train`.

use burn::backend::NdArray;
use san_data::signsim::{SignsimConfig, ensure_corpus};
use san_train::corpus::Corpus;
use san_train::model::init_model;
use san_train::negatives::build_table;
use san_train::report::TableReport;
use san_train::settings::load_config;

type B = NdArray<f32>;

#[test]
fn set_reliable_alpha_changes_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("signsim");
    ensure_corpus(
        &root,
        &SignsimConfig::new().with_train(64).with_dev(8).with_test(8),
    )
    .unwrap();
    let corpus = Corpus::load(&root).unwrap();
    let small = ["model.hidden=32", "model.dim=32", "mining.table.beta=0.0"];
    let config = |extra: &[&str]| {
        let sets: Vec<String> = small.iter().chain(extra).map(|s| s.to_string()).collect();
        load_config(None, &sets).unwrap()
    };
    let (strict, loose) = (config(&[]), config(&["mining.reliable.alpha=0.4"]));
    assert_eq!(
        (strict.mining.reliable.alpha, loose.mining.reliable.alpha),
        (0.7, 0.4)
    );
    let device = Default::default();
    // The same (seeded) model for both: only α differs.
    let model = init_model::<B>(&strict, &corpus, &device).unwrap();
    let (t_strict, p_strict) = build_table(&model, &corpus, &strict, &device).unwrap();
    let (t_loose, p_loose) = build_table(&model, &corpus, &loose, &device).unwrap();
    // Every word occurrence is examined under both; α only decides which are reliable.
    assert_eq!(p_strict.seen(), p_loose.seen());
    assert!(
        p_loose.reliable() > p_strict.reliable(),
        "α 0.4 must keep more pairs than α 0.7: {} vs {}",
        p_loose.reliable(),
        p_strict.reliable()
    );
    assert_ne!(t_strict, t_loose, "the table must change with α");
    let (r_strict, r_loose) = (
        TableReport::new(&t_strict, &p_strict, &corpus, &strict),
        TableReport::new(&t_loose, &p_loose, &corpus, &loose),
    );
    assert!(r_loose.aligned_words >= r_strict.aligned_words);
}
