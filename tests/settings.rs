//! Settings from the command line reach the method: `--set mining.reliable.alpha=…`
//! changes the SAN table a model gives, through the same `load_config` as `san train`.

use burn::backend::Autodiff;
use burn::module::AutodiffModule;
use burn::tensor::backend::Backend;
use san::backend::Cpu;
use san_data::corpus::Corpus;
use san_data::signsim::{SignsimConfig, ensure_corpus};
use san_train::model::init_model;
use san_train::negatives::{Negatives, build_table};
use san_train::report::TableReport;
use san_train::settings::load_config;
use san_train::stage::train_stage;

type B = Autodiff<Cpu>;

#[test]
fn set_reliable_alpha_changes_the_table() {
    let _turn = crate::end_to_end::training_turn();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("signsim");
    ensure_corpus(
        &root,
        &SignsimConfig::new().with_train(64).with_dev(8).with_test(8),
    )
    .unwrap();
    let corpus = Corpus::load(&root).unwrap();
    let small = [
        "model.hidden=32",
        "model.dim=32",
        "data.batch_size=16",
        "stage1.epochs=4",
        "mining.table.beta=-1.0",
    ];
    let config = |extra: &[&str]| {
        let sets: Vec<String> = small.iter().chain(extra).map(|s| s.to_string()).collect();
        load_config(None, &sets).unwrap()
    };
    let (strict, loose) = (config(&[]), config(&["mining.reliable.alpha=0.1"]));
    assert_eq!(
        (strict.mining.reliable.alpha, loose.mining.reliable.alpha),
        (0.7, 0.1)
    );
    let device = Default::default();
    // The same stage-1 model for both: only α differs.
    B::seed(&device, 7);
    let model = init_model::<B>(&strict, &corpus, &device).unwrap();
    let (model, ..) = train_stage(
        model,
        1,
        &corpus,
        &strict,
        Negatives::None,
        None,
        &device,
        &mut |_, _, _, _| {},
    )
    .unwrap();
    let model = model.valid();
    let (t_strict, p_strict) = build_table(&model, &corpus, &strict, &device).unwrap();
    let (t_loose, p_loose) = build_table(&model, &corpus, &loose, &device).unwrap();
    // Every word occurrence is examined under both; α only decides which are reliable.
    assert_eq!(p_strict.seen(), p_loose.seen());
    assert!(
        p_loose.reliable() > p_strict.reliable(),
        "α 0.1 must keep more pairs than α 0.7: {} vs {}",
        p_loose.reliable(),
        p_strict.reliable()
    );
    assert_ne!(
        t_strict,
        t_loose,
        "the table must change with α (reliable pairs {} vs {}, words {} vs {})",
        p_strict.reliable(),
        p_loose.reliable(),
        p_strict.words().len(),
        p_loose.words().len()
    );
    let (r_strict, r_loose) = (
        TableReport::new(&t_strict, &p_strict, &corpus, &strict),
        TableReport::new(&t_loose, &p_loose, &corpus, &loose),
    );
    assert!(r_loose.aligned_words >= r_strict.aligned_words);
    println!(
        "α 0.7: {} reliable pairs, {} links; α 0.1: {} reliable pairs, {} links",
        r_strict.reliable_pairs, r_strict.links, r_loose.reliable_pairs, r_loose.links
    );
}

#[test]
fn the_shipped_config_is_the_main_jobs_setting() {
    use san::backend::DeviceChoice;
    use san_train::settings::load_config_over;
    // CARGO_MANIFEST_DIR is the repository root (the `san` package).
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/signsim.toml");
    let shipped = load_config_over(DeviceChoice::Cpu.train_config(), Some(&path), &[]).unwrap();
    // The main job's config at its default flags (no --data: signsim, pose input).
    let args = <san::main_job::Args as clap::Parser>::try_parse_from(["phoenix_train"]).unwrap();
    let main_job = san::main_job::train_config(&args, san_train::config::InputKind::Pose);
    assert_eq!(
        serde_json::to_value(&shipped).unwrap(),
        serde_json::to_value(&main_job).unwrap()
    );
}

#[test]
fn the_coarse_mix_is_a_setting() {
    use san_core::loss::CoarseMix;
    let default = load_config(None, &[]).unwrap();
    assert_eq!(default.mining.coarse_mix, CoarseMix::Symmetric);
    let research = load_config(None, &["mining.coarse_mix=Balance".to_string()]).unwrap();
    assert_eq!(research.mining.coarse_mix, CoarseMix::Balance);
}

#[test]
fn token_padding_is_a_setting_that_reaches_evaluation() {
    use san_core::similarity::TokenPadding;
    let default = load_config(None, &[]).unwrap();
    assert_eq!(default.model.token_padding, TokenPadding::Exclude);
    let research = load_config(None, &["model.token_padding=Include".to_string()]).unwrap();
    assert_eq!(research.model.token_padding, TokenPadding::Include);
    let clcl = san_train::model::clcl_config(&research);
    assert_eq!(clcl.padding, TokenPadding::Include);
}
