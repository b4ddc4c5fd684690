//! A [`TrainConfig`] from layers: the defaults, then a TOML file, then `KEY=VALUE`
//! overrides with dotted keys (`mining.reliable.alpha=0.4`). An unknown or misplaced key is
//! an error naming it; a key of the flat layout used before the config had sections names
//! its new home.

use std::path::Path;

use serde_json::{Map, Value};

use crate::config::TrainConfig;
use crate::error::{Result, TrainError};

/// The keys of the flat layout and their homes in the sectioned config.
pub const MOVED_KEYS: &[(&str, &str)] = &[
    ("input", "data.input"),
    ("frames", "data.frames"),
    ("batcher", "data.batcher"),
    ("batch_size", "data.batch_size"),
    ("encoder", "model.encoder"),
    ("cnn", "model.cnn"),
    ("hidden", "model.hidden"),
    ("dim", "model.dim"),
    ("tau_tok", "model.tau_tok"),
    ("learning_rate", "optimizer.learning_rate"),
    ("weight_decay", "optimizer.weight_decay"),
    ("momentum", "optimizer.momentum"),
    ("schedule", "optimizer.schedule"),
    ("warmup_steps", "optimizer.warmup_steps"),
    ("min_lr_ratio", "optimizer.min_lr_ratio"),
    ("grad_clip_norm", "optimizer.grad_clip_norm"),
    ("stage1_epochs", "stage1.epochs"),
    ("stage2_epochs", "stage2.epochs"),
    ("selection", "stage1.selection and stage2.selection"),
    ("stage2_init", "stage2.init"),
    ("refresh_every", "stage2.refresh_every"),
    ("miner", "mining.miner"),
    ("n_hard", "mining.n_hard"),
    ("n_swap", "mining.n_swap"),
    ("lambda_fine", "mining.lambda_fine"),
    ("tau_syn", "mining.table.tau_syn"),
    ("instance_k", "mining.instance.k"),
    ("instance_tau_sem", "mining.instance.tau_sem"),
    ("table", "mining.table"),
    ("table.alpha", "mining.reliable.alpha"),
    ("mining.table.alpha", "mining.reliable.alpha"),
    ("fine_grained_distractors", "eval.fine_grained_distractors"),
    ("eval_chunk", "eval.chunk"),
];

/// Where a key of the flat layout lives now; `None` for keys that never existed.
pub fn moved_to(key: &str) -> Option<&'static str> {
    MOVED_KEYS
        .iter()
        .find(|(old, _)| *old == key)
        .map(|(_, new)| *new)
}

/// The training config from defaults, a TOML file and `KEY=VALUE` overrides (dotted keys,
/// TOML values; a bare word such as `Sgd` is a string). Unknown keys are
/// [`TrainError::UnknownSetting`] naming the key, the file and, for a key of the flat
/// layout, its new home.
pub fn load_config(file: Option<&Path>, sets: &[String]) -> Result<TrainConfig> {
    load_config_over(TrainConfig::new(), file, sets)
}

/// As [`load_config`], with `base` in place of the defaults (a binary's choices for its
/// device, which the file and `--set` may still override).
pub fn load_config_over(
    base: TrainConfig,
    file: Option<&Path>,
    sets: &[String],
) -> Result<TrainConfig> {
    let defaults = serde_json::to_value(base).map_err(|e| TrainError::BadSetting {
        origin: String::new(),
        problem: format!("the default config does not serialise: {e}"),
    })?;
    let mut value = defaults.clone();
    let mut origin = String::new();
    if let Some(path) = file {
        origin = format!("{}: ", path.display());
        let text = std::fs::read_to_string(path).map_err(|source| TrainError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let table: toml::Table = toml::from_str(&text).map_err(|e| TrainError::BadSetting {
            origin: origin.clone(),
            problem: format!("expected TOML: {}", one_line(&e.to_string())),
        })?;
        let patch = to_json(table, &origin)?;
        merge(&mut value, &patch, &defaults, "", &origin)?;
    }
    for set in sets {
        let at = format!("--set {set}: ");
        let Some((key, raw)) = set.split_once('=') else {
            return Err(TrainError::BadSetting {
                origin: at,
                problem: "expected KEY=VALUE".into(),
            });
        };
        let parsed = match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
            Ok(mut t) => match t.remove("v") {
                Some(v) => to_json(v, &at)?,
                None => Value::String(raw.trim().to_string()),
            },
            // A bare word (e.g. Sgd) is taken as a string.
            Err(_) => Value::String(raw.trim().to_string()),
        };
        let mut patch = parsed;
        for part in key.trim().rsplit('.') {
            let mut m = Map::new();
            m.insert(part.to_string(), patch);
            patch = Value::Object(m);
        }
        merge(&mut value, &patch, &defaults, "", &at)?;
    }
    inherit_stage2_optimizer(&mut value, &origin)?;
    serde_json::from_value(value).map_err(|e| TrainError::BadSetting {
        origin,
        problem: format!("invalid setting: {e}"),
    })
}

/// `stage2.optimizer`, when set, takes the `optimizer` section's value for every key it
/// does not set; a key the `optimizer` section does not have is unknown.
fn inherit_stage2_optimizer(value: &mut Value, origin: &str) -> Result<()> {
    let Some(base) = value.get("optimizer").and_then(Value::as_object).cloned() else {
        return Ok(());
    };
    let Some(Value::Object(own)) = value.get_mut("stage2").and_then(|s| s.get_mut("optimizer"))
    else {
        return Ok(());
    };
    if let Some(key) = own.keys().find(|k| !base.contains_key(*k)) {
        return Err(unknown(format!("stage2.optimizer.{key}"), origin));
    }
    for (k, v) in base {
        own.entry(k).or_insert(v);
    }
    Ok(())
}

fn to_json<T: serde::Serialize>(value: T, origin: &str) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| TrainError::BadSetting {
        origin: origin.to_string(),
        problem: format!("expected plain values: {e}"),
    })
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn unknown(key: String, origin: &str) -> TrainError {
    let hint = match moved_to(&key) {
        Some(new) => format!("moved to {new}"),
        None => "see the keys of a run's config.json".to_string(),
    };
    TrainError::UnknownSetting {
        origin: origin.to_string(),
        key,
        hint: Some(hint),
    }
}

/// Merges `patch` into `value`, refusing keys the defaults do not have. Sections (every
/// object of the defaults) merge key by key; a value where the default is a section is
/// refused, as is a key of the flat layout; where the default is not an object (an enum,
/// or an option) the patch replaces it whole.
fn merge(
    value: &mut Value,
    patch: &Value,
    defaults: &Value,
    prefix: &str,
    origin: &str,
) -> Result<()> {
    let (Value::Object(v), Value::Object(p), Value::Object(d)) = (&mut *value, patch, defaults)
    else {
        *value = patch.clone();
        return Ok(());
    };
    for (k, pv) in p {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        let (Some(dv), Some(slot)) = (d.get(k), v.get_mut(k)) else {
            return Err(unknown(leaf_path(path, pv), origin));
        };
        if dv.is_object() && !pv.is_object() {
            // A value where the default is a section (or a flat key that became one:
            // `optimizer = "Sgd"`); every object of the defaults is a section of keys.
            return Err(match moved_to(&path) {
                Some(_) => unknown(path, origin),
                None => TrainError::BadSetting {
                    origin: origin.to_string(),
                    problem: format!(
                        "{path:?} is a section; set its keys (e.g. {path}.{})",
                        dv.as_object()
                            .and_then(|m| m.keys().next())
                            .map_or("key", String::as_str)
                    ),
                },
            });
        }
        if dv.is_object() && pv.is_object() {
            merge(slot, pv, dv, &path, origin)?;
        } else if let Some(expected) = mismatch(dv, pv) {
            return Err(TrainError::BadSetting {
                origin: origin.to_string(),
                problem: format!("{path}: expected {expected}, got {pv}"),
            });
        } else {
            *slot = pv.clone();
        }
    }
    Ok(())
}

/// What a setting must be when its value's type differs from the default's (a whole
/// number, a number, true or false, a name); `None` when it fits or the default says
/// nothing (an unset option).
fn mismatch(default: &Value, value: &Value) -> Option<&'static str> {
    match default {
        Value::Number(n) if n.is_u64() && !value.is_u64() => Some("a whole number"),
        Value::Number(_) if !value.is_number() => Some("a number"),
        Value::Bool(_) if !value.is_boolean() => Some("true or false"),
        Value::String(_) if !value.is_string() => Some("a name in quotes"),
        _ => None,
    }
}

/// The dotted key of an unknown `path` given as a one-key table (`table.alpha` from
/// `{"table": {"alpha": …}}`) when the flat layout knew it, else `path`.
fn leaf_path(path: String, value: &Value) -> String {
    let mut full = path.clone();
    let mut v = value;
    while let Value::Object(m) = v {
        let Some((k, next)) = m.iter().next().filter(|_| m.len() == 1) else {
            break;
        };
        full = format!("{full}.{k}");
        if moved_to(&full).is_some() {
            return full;
        }
        v = next;
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(sets: &[&str]) -> String {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        match load_config(None, &sets) {
            Ok(_) => String::from("no error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn dotted_keys_set_nested_settings() {
        let c = load_config(
            None,
            &[
                "mining.reliable.alpha=0.4".into(),
                "optimizer.kind=Sgd".into(),
                "stage2.refresh_every=3".into(),
            ],
        );
        let c = c.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.mining.reliable.alpha, 0.4);
        assert_eq!(c.mining.table.beta, 0.7, "siblings keep their defaults");
        assert_eq!(c.optimizer.kind, crate::schedule::OptimizerKind::Sgd);
        assert_eq!(c.stage2.refresh_every, Some(3));
    }

    #[test]
    fn stage2_gets_its_own_optimiser_from_a_file_section_or_dotted_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s2.toml");
        std::fs::write(
            &path,
            "[stage2.optimizer]\nkind = \"Sgd\"\nschedule = \"Cosine\"\nlearning_rate = 0.01\n\n[mining]\nhard_draw = \"Repeats\"\n",
        )
        .unwrap();
        let c = load_config(Some(&path), &[]).unwrap_or_else(|e| panic!("{e}"));
        let o = c.stage2.optimizer.clone().expect("stage 2 optimiser");
        assert_eq!(o.kind, crate::schedule::OptimizerKind::Sgd);
        assert_eq!(o.schedule, crate::schedule::LrSchedule::Cosine);
        assert_eq!(o.learning_rate, 0.01);
        assert_eq!(
            o.momentum, 0.9,
            "unset keys of the section keep their defaults"
        );
        assert_eq!(c.mining.hard_draw, san_core::mining::HardDraw::Repeats);
        // Stage 1 keeps the optimizer section; stage 2 trains with its own.
        assert_eq!(
            c.for_stage(1).optimizer.kind,
            crate::schedule::OptimizerKind::AdamW
        );
        assert_eq!(
            c.for_stage(2).optimizer.kind,
            crate::schedule::OptimizerKind::Sgd
        );
        let c = load_config(None, &["stage2.optimizer.kind=Sgd".into()])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.for_stage(2).optimizer.kind,
            crate::schedule::OptimizerKind::Sgd
        );
        assert_eq!(
            TrainConfig::new().for_stage(2).optimizer.kind,
            crate::schedule::OptimizerKind::AdamW
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_key() {
        for (set, key, expected) in [
            ("mining.n_hard=\"many\"", "mining.n_hard", "a whole number"),
            ("stage1.epochs=1.5", "stage1.epochs", "a whole number"),
            (
                "mining.reliable.alpha=true",
                "mining.reliable.alpha",
                "a number",
            ),
            (
                "model.text.freeze_all=1",
                "model.text.freeze_all",
                "true or false",
            ),
        ] {
            let e = load_config(None, &[set.to_string()])
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(key) && e.contains(expected), "{set}: {e}");
        }
        let c = load_config(None, &["mining.reliable.alpha=1".into()]);
        assert_eq!(
            c.map(|c| c.mining.reliable.alpha).ok(),
            Some(1.0),
            "an integer is a number"
        );
    }

    #[test]
    fn every_flat_key_names_its_new_home() {
        for (old, new) in MOVED_KEYS {
            // A value of the right kind for the new key where one is simple; the error must
            // come from the key alone.
            let message = err(&[&format!("{old}=1")]);
            assert!(
                message.contains(&format!("unknown setting {old:?}"))
                    && message.contains(&format!("moved to {new}")),
                "{old}: {message}"
            );
        }
        // `optimizer` was the optimiser's kind; it is a section now.
        let message = err(&["optimizer=Sgd"]);
        assert!(message.contains("\"optimizer\" is a section"), "{message}");
    }

    #[test]
    fn unknown_and_misplaced_keys_are_errors_naming_them() {
        assert!(err(&["mining.alpha=0.4"]).contains("unknown setting \"mining.alpha\""));
        assert!(err(&["model.n_hard=3"]).contains("unknown setting \"model.n_hard\""));
        assert!(err(&["seed"]).contains("expected KEY=VALUE"));
        let e = err(&["model.dim=abc"]);
        assert!(e.contains("model.dim: expected a whole number"), "{e}");
    }

    #[test]
    fn a_flat_config_file_is_refused_with_the_new_key() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("old.toml");
        std::fs::write(&path, "seed = 3\nstage1_epochs = 4\n").unwrap_or_else(|e| panic!("{e}"));
        let message = match load_config(Some(&path), &[]) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        };
        assert!(
            message.starts_with(&path.display().to_string()),
            "{message}"
        );
        assert!(
            message.contains("\"stage1_epochs\" (moved to stage1.epochs)"),
            "{message}"
        );
        let new = dir.path().join("new.toml");
        std::fs::write(
            &new,
            "seed = 3\n[stage1]\nepochs = 4\n[mining.reliable]\nalpha = 0.5\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let c =
            load_config(Some(&new), &["stage1.epochs=5".into()]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (c.seed, c.stage1.epochs, c.mining.reliable.alpha),
            (3, 5, 0.5)
        );
    }
}
