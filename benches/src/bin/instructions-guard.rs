//! Compares the instruction counts of a `cargo bench --bench instructions` run (gungraun's `summary.json`
//! files) with the checked-in baseline, or writes the run's counts into it.
//!
//! ```text
//! instructions-guard check  GUNGRAUN_HOME BASELINE_JSON   # fails when a count grew more than the limit
//! instructions-guard update GUNGRAUN_HOME BASELINE_JSON   # the baseline becomes this run's counts
//! ```
//!
//! `scripts/instructions-guard.sh` runs the benchmarks and then this. A benchmark without a baseline, or a
//! baseline without a benchmark, fails the check too: nothing is guarded by accident or dropped in silence.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::{Value, json};

/// The limit when the baseline names none, in percent.
const DEFAULT_LIMIT_PERCENT: f64 = 10.0;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, home, baseline] = args.as_slice() else {
        eprintln!("usage: instructions-guard check|update GUNGRAUN_HOME BASELINE_JSON");
        return ExitCode::from(2);
    };
    let counts = match read_counts(Path::new(home)) {
        Ok(counts) if !counts.is_empty() => counts,
        Ok(_) => {
            eprintln!(
                "no summary.json under {home}: did `cargo bench --bench instructions -- --save-summary=json` run?"
            );
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("cannot read the benchmark summaries under {home}: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = match mode.as_str() {
        "check" => check(&counts, Path::new(baseline)),
        "update" => update(&counts, Path::new(baseline)),
        other => Err(format!("unknown mode {other:?}: use check or update")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Every benchmark's instruction count (callgrind's `Ir`, all threads), by `module::path.id`.
fn read_counts(home: &Path) -> Result<BTreeMap<String, u64>, String> {
    let mut counts = BTreeMap::new();
    for file in summaries(home)? {
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let summary: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        let path = summary["module_path"].as_str().ok_or_else(|| format!("{}: no module_path", file.display()))?;
        let name = match summary["id"].as_str() {
            Some(id) => format!("{path}.{id}"),
            None => path.to_owned(),
        };
        let instructions = summary["profiles"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["tool"] == "Callgrind")
            .and_then(|p| p["data"]["total"]["metrics"]["Ir"]["values"]["new"].as_u64())
            .ok_or_else(|| format!("{}: no callgrind instruction count", file.display()))?;
        counts.insert(name, instructions);
    }
    Ok(counts)
}

fn summaries(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(summaries(&path)?);
        } else if path.file_name().is_some_and(|n| n == "summary.json") {
            found.push(path);
        }
    }
    Ok(found)
}

fn read_baseline(path: &Path) -> Result<Value, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read the baseline {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("the baseline {} is not JSON: {e}", path.display()))
}

/// One row of the comparison: how a count moved, and whether that breaks the limit.
#[derive(Debug, PartialEq)]
enum Verdict {
    Within(f64),
    Regressed(f64),
    Improved(f64),
    NoBaseline,
    NotRun,
}

fn verdict(baseline: Option<u64>, now: Option<u64>, limit: f64) -> Verdict {
    match (baseline, now) {
        (Some(base), Some(now)) => {
            let change = (now as f64 - base as f64) * 100.0 / (base.max(1) as f64);
            if change > limit {
                Verdict::Regressed(change)
            } else if change < -limit {
                Verdict::Improved(change)
            } else {
                Verdict::Within(change)
            }
        }
        (None, Some(_)) => Verdict::NoBaseline,
        (_, None) => Verdict::NotRun,
    }
}

fn check(counts: &BTreeMap<String, u64>, path: &Path) -> Result<(), String> {
    let baseline = read_baseline(path)?;
    let limit = baseline["limit_percent"].as_f64().unwrap_or(DEFAULT_LIMIT_PERCENT);
    let expected: BTreeMap<String, u64> = baseline["instructions"]
        .as_object()
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_u64()?))).collect())
        .unwrap_or_default();
    let names: std::collections::BTreeSet<&String> = expected.keys().chain(counts.keys()).collect();
    let mut failures = Vec::new();
    println!("| benchmark | baseline | this run | change |\n|---|---:|---:|---:|");
    for name in names {
        let (base, now) = (expected.get(name).copied(), counts.get(name).copied());
        let shown = |n: Option<u64>| n.map_or("-".to_owned(), |n| n.to_string());
        let verdict = verdict(base, now, limit);
        let change = match &verdict {
            Verdict::Within(c) => format!("{c:+.2} %"),
            Verdict::Regressed(c) => format!("{c:+.2} % REGRESSED"),
            Verdict::Improved(c) => format!("{c:+.2} % (update the baseline)"),
            Verdict::NoBaseline => "no baseline".to_owned(),
            Verdict::NotRun => "did not run".to_owned(),
        };
        println!("| {name} | {} | {} | {change} |", shown(base), shown(now));
        match verdict {
            Verdict::Regressed(c) => failures.push(format!("{name}: {c:+.2} % over the baseline (limit {limit} %)")),
            Verdict::NoBaseline => failures.push(format!("{name}: no baseline; add it with --update")),
            Verdict::NotRun => failures.push(format!("{name}: in the baseline but did not run")),
            Verdict::Within(_) | Verdict::Improved(_) => {}
        }
    }
    if failures.is_empty() {
        println!("\ninstruction counts within {limit} % of {}", path.display());
        Ok(())
    } else {
        Err(format!(
            "\ninstruction guard failed:\n  {}\nIf the change is intended, run scripts/instructions-guard.sh --update and commit the \
             baseline with a message that says why the counts moved.",
            failures.join("\n  ")
        ))
    }
}

fn update(counts: &BTreeMap<String, u64>, path: &Path) -> Result<(), String> {
    let mut baseline = read_baseline(path).unwrap_or_else(|_| json!({}));
    let limit = baseline["limit_percent"].as_f64().unwrap_or(DEFAULT_LIMIT_PERCENT);
    let object = baseline.as_object_mut().ok_or("the baseline is not a JSON object")?;
    object.insert("limit_percent".into(), json!(limit));
    object.insert("instructions".into(), json!(counts));
    let text = serde_json::to_string_pretty(&baseline).map_err(|e| e.to_string())?;
    std::fs::write(path, text + "\n").map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("wrote {} counts to {}", counts.len(), path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_past_the_limit_fails_and_missing_rows_are_named() {
        assert_eq!(verdict(Some(100), Some(110), 10.0), Verdict::Within(10.0));
        assert_eq!(verdict(Some(100), Some(111), 10.0), Verdict::Regressed(11.0));
        assert_eq!(verdict(Some(100), Some(80), 10.0), Verdict::Improved(-20.0));
        assert_eq!(verdict(None, Some(80), 10.0), Verdict::NoBaseline);
        assert_eq!(verdict(Some(80), None, 10.0), Verdict::NotRun);
    }
}
