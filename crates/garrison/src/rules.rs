//! Loading Sigma rules: the bundled pack, and rule folders or files given with `--rules`,
//! compiled on all cores and linked into one rule set.

use anyhow::{Context, Result, bail};
use garrison_sigma::{CompileOptions, RuleSet, RuleSource, compile_file};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

include!(concat!(env!("OUT_DIR"), "/bundled_rules.rs"));

/// Where rules come from.
#[derive(Debug, Clone)]
pub struct RuleSelection {
    pub bundled: bool,
    pub paths: Vec<PathBuf>,
}

/// A loaded rule set and what loading it took.
pub struct LoadedRules {
    pub rules: RuleSet,
    /// YAML files passed over because they are not Sigma rules (no `detection`/`correlation`).
    pub not_rules: Vec<PathBuf>,
    pub files: usize,
    pub elapsed: Duration,
}

fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yml" | "yaml")
    )
}

fn walk(path: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let metadata = std::fs::metadata(path)
        .with_context(|| format!("cannot read rules at {}", path.display()))?;
    if metadata.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("cannot list rules folder {}", path.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            walk(&entry, out)?;
        } else if is_yaml(&entry) {
            out.push(entry);
        }
    }
    Ok(())
}

/// A YAML file is a rule file when a document has a top-level `detection` or `correlation`.
fn looks_like_rule(text: &str) -> bool {
    text.lines()
        .any(|line| line.starts_with("detection:") || line.starts_with("correlation:"))
}

/// Reads, compiles and links the selected rules. Reading and compiling are independent per
/// file, so both run on every thread; linking is one pass at the end.
pub fn load_rules(
    selection: &RuleSelection,
    options: &CompileOptions,
    threads: usize,
) -> Result<LoadedRules> {
    let started = Instant::now();
    let bundled: Vec<RuleSource> = if selection.bundled {
        BUNDLED_RULES
            .iter()
            .map(|(path, text)| RuleSource {
                path: format!("bundled:{path}"),
                text: (*text).to_string(),
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut paths = Vec::new();
    for path in &selection.paths {
        walk(path, &mut paths)?;
    }
    let total = bundled.len() + paths.len();
    let next = AtomicUsize::new(0);
    let compiled = Mutex::new(Vec::with_capacity(total));
    let unreadable = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                let mut local = Vec::new();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= total {
                        break;
                    }
                    if let Some(source) = bundled.get(index) {
                        local.push((index, Some(compile_file(source, options))));
                        continue;
                    }
                    let path = &paths[index - bundled.len()];
                    match std::fs::read_to_string(path) {
                        Ok(text) if looks_like_rule(&text) => {
                            let source = RuleSource {
                                path: path.to_string_lossy().into_owned(),
                                text,
                            };
                            local.push((index, Some(compile_file(&source, options))));
                        }
                        Ok(_) => local.push((index, None)),
                        Err(error) => unreadable
                            .lock()
                            .expect("no panics while holding the lock")
                            .push(format!("cannot read rule file {}: {error}", path.display())),
                    }
                }
                compiled
                    .lock()
                    .expect("no panics while holding the lock")
                    .extend(local);
            });
        }
    });
    if let Some(message) = unreadable
        .into_inner()
        .expect("threads joined")
        .into_iter()
        .next()
    {
        bail!(message);
    }
    let mut compiled = compiled.into_inner().expect("threads joined");
    compiled.sort_by_key(|(index, _)| *index);
    let mut not_rules = Vec::new();
    let mut files = Vec::with_capacity(compiled.len());
    for (index, file) in compiled {
        match file {
            Some(file) => files.push(file),
            None => not_rules.push(paths[index - bundled.len()].clone()),
        }
    }
    if files.is_empty() {
        bail!("no rules to load (the bundled pack is disabled and no rule files were found)");
    }
    let file_count = files.len();
    let rules = RuleSet::link(files, options);
    // The shared prefilter automata, built now on all threads (hunting would build them one at
    // a time on first use).
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                loop {
                    let part = next.fetch_add(1, Ordering::Relaxed);
                    if part >= rules.prebuild_parts() {
                        break;
                    }
                    rules.prebuild(part);
                }
            });
        }
    });
    Ok(LoadedRules {
        rules,
        not_rules,
        files: file_count,
        elapsed: started.elapsed(),
    })
}
