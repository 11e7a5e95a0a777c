//! What an image was built from, beyond its commit: the base image's ID, aws-app's build recipe
//! (Dockerfile, lock script, gunicorn config, compiled into the binary), and the pins the lock
//! stage resolved (`/etc/aws-app/lock.json` in the image, written by docker/lock.py), with the
//! known vulnerabilities of those releases. The image's tag is `<commit>-<key>`, the key a hash
//! of all three and of the CPU architecture, so a tag always names one set of inputs: a new base or recipe is a new tag (and
//! a rebuild), and an immutable registry never sees one tag for two builds.
//! Pure data and text: no Docker, no network.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use super::context::BUILD_FILES;
use crate::error::{Error, Result};

/// Container labels of the task definition that say what the image was built from besides its
/// commit (`Inputs`): the base image as given and its ID, aws-app's recipe, the build key (the
/// tag's second half), the resolved pins (space-separated), how they were resolved (`pins
/// <cut-off>`), and their known vulnerabilities (`name==version:ID …`, `none`, or
/// `unchecked`).
pub const BASE_IMAGE_LABEL: &str = "dev.aws-app.base-image";
pub const BASE_ID_LABEL: &str = "dev.aws-app.base-id";
pub const RECIPE_LABEL: &str = "dev.aws-app.recipe";
pub const KEY_LABEL: &str = "dev.aws-app.key";
pub const PINS_LABEL: &str = "dev.aws-app.pins";
pub const RESOLUTION_LABEL: &str = "dev.aws-app.resolution";
pub const VULNERABILITIES_LABEL: &str = "dev.aws-app.vulnerabilities";

/// Where the lock stage leaves its record in the image.
pub const LOCK_FILE: &str = "/etc/aws-app/lock.json";
/// Hex digits of the recipe hash and of the key kept in tags and labels.
const SHORT: usize = 12;

/// The version of what aws-app does around the build files: the context it sends (layout,
/// modes, times, `.dockerignore` handling) and the build args. Bump it when any of that
/// changes, so every app is built again with it.
const RECIPE_VERSION: &str = "1";

/// SHA-256 of aws-app's build files (path and bytes) and `RECIPE_VERSION`, shortened: the recipe
/// every image of this aws-app version is built with.
pub fn recipe() -> &'static str {
    static RECIPE: OnceLock<String> = OnceLock::new();
    RECIPE.get_or_init(|| {
        let mut hash = Sha256::new();
        hash.update(RECIPE_VERSION.as_bytes());
        hash.update([0]);
        for file in BUILD_FILES {
            hash.update(file.path.as_bytes());
            hash.update([0]);
            hash.update(file.contents);
            hash.update([0]);
        }
        hex::encode(hash.finalize())[..SHORT].to_string()
    })
}

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The build key: a hash of everything besides the commit that goes into the image, the CPU it
/// is built for among them (an engine with the containerd store gives a multi-platform base the
/// same ID on every CPU: the tag of an arm64 build must not name an amd64 one).
pub fn build_key(base_id: &str, architecture: &str, recipe: &str, pins: &[String]) -> String {
    let mut hash = Sha256::new();
    hash.update(format!(
        "aws-app build v1\nbase {base_id}\nplatform linux/{architecture}\nrecipe {recipe}\n"
    ));
    for pin in pins {
        hash.update(format!("pin {pin}\n"));
    }
    hex::encode(hash.finalize())[..SHORT].to_string()
}

/// The image tag of a commit built from inputs with this key: commit first, readable.
pub fn tag(commit: &str, key: &str) -> String {
    format!("{commit}-{key}")
}

/// What the lock stage cannot take in a requirements file: it sees requirements.txt alone, so a
/// file it includes (`-r`, `-c`) or a local project (`-e`, a path) is not there. The reason, or
/// None when the file is fine.
pub fn unsupported_requirement(text: &str) -> Option<String> {
    let text = text.trim_start_matches('\u{feff}');
    for line in text.lines() {
        let line = line.split(" #").next().unwrap_or_default().trim();
        let word = line.split([' ', '=']).next().unwrap_or_default();
        let why = match word {
            "-r" | "--requirement" => "includes another requirements file",
            "-c" | "--constraint" => "includes a constraints file",
            "-e" | "--editable" => "installs a local project in editable mode",
            _ if line.starts_with('.') || line.starts_with('/') => "installs a local path",
            _ if line.starts_with("-r") || line.starts_with("-c") => "includes another file",
            _ => continue,
        };
        return Some(format!("`{line}` {why}"));
    }
    None
}

/// A known vulnerability of a resolved release (PyPI's per-release advisories).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vulnerability {
    pub package: String,
    pub version: String,
    pub id: String,
    pub aliases: Vec<String>,
    pub fixed_in: Vec<String>,
    pub summary: String,
}

/// What the lock stage resolved, and what it learned about the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    /// `pins`, `requirements-commit` or `none` (lock.py).
    pub rule: String,
    /// The upload-time cut-off of the resolution (RFC 3339), if any.
    pub cutoff: Option<String>,
    /// Why that cut-off, in words.
    pub why: String,
    /// `name==version`, sorted.
    pub pins: Vec<String>,
    pub vulnerabilities: Vec<Vulnerability>,
    /// Releases whose advisories could not be asked (the source unreachable, or `off`), with
    /// the first reason.
    pub unchecked: usize,
    pub unchecked_why: Option<String>,
    /// Where the advisories came from (`off` when not asked).
    pub advisory_source: String,
}

fn strings(value: &serde_json::Value) -> Vec<String> {
    value.as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect()
}

fn text(value: &serde_json::Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

impl Lock {
    /// Reads lock.json as docker/lock.py writes it.
    pub fn parse(json: &str) -> Result<Lock> {
        let bad = |why: String| Error::failed(format!("{LOCK_FILE} in the image: {why}"));
        let v: serde_json::Value =
            serde_json::from_str(json).map_err(|e| bad(format!("not JSON: {e}")))?;
        if v["version"] != 1 {
            return Err(bad(format!("unknown version {}", v["version"])));
        }
        let pins = strings(&v["pins"]);
        if pins.is_empty() {
            return Err(bad("no pins".to_string()));
        }
        let advisories = &v["advisories"];
        let vulnerabilities = advisories["vulnerabilities"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|item| Vulnerability {
                package: text(&item["package"]),
                version: text(&item["version"]),
                id: text(&item["id"]),
                aliases: strings(&item["aliases"]),
                fixed_in: strings(&item["fixed_in"]),
                summary: text(&item["summary"]),
            })
            .collect();
        let unknown = advisories["unknown"].as_array().cloned().unwrap_or_default();
        let advisory_source = text(&advisories["source"]);
        let (unchecked, unchecked_why) = if advisory_source == "off" {
            (pins.len(), Some("advisories are off (AWS_APP_ADVISORY_URL=off)".to_string()))
        } else {
            (unknown.len(), unknown.first().map(|u| text(&u["error"])))
        };
        Ok(Lock {
            rule: text(&v["rule"]),
            cutoff: v["cutoff"].as_str().map(str::to_string),
            why: text(&v["why"]),
            pins,
            vulnerabilities,
            unchecked,
            unchecked_why,
            advisory_source,
        })
    }

    /// `pins 2021-10-05T20:01:36Z`: the rule and the cut-off, for a label and a progress line.
    pub fn resolution(&self) -> String {
        match &self.cutoff {
            Some(cutoff) => format!("{} {cutoff}", self.rule),
            None => self.rule.clone(),
        }
    }

    /// `gunicorn==20.1.0:GHSA-… …`: the advisories in one label value, with `unchecked:N` when
    /// N releases could not be asked; `none` without any, `unchecked` when none could be asked
    /// (never empty: a label value must have a non-blank character).
    pub fn vulnerability_label(&self) -> String {
        if self.unchecked == self.pins.len() && self.vulnerabilities.is_empty() {
            return "unchecked".to_string();
        }
        let mut entries: Vec<String> = self
            .vulnerabilities
            .iter()
            .map(|v| format!("{}=={}:{}", v.package, v.version, v.id))
            .collect();
        if self.unchecked > 0 {
            entries.push(format!("unchecked:{}", self.unchecked));
        }
        if entries.is_empty() { "none".to_string() } else { entries.join(" ") }
    }

    /// The warning printed after a build: one line per vulnerable release, each advisory with
    /// its aliases and the releases that fix it. None when there is nothing to say.
    pub fn warning(&self) -> Option<String> {
        let mut lines = Vec::new();
        if !self.vulnerabilities.is_empty() {
            let mut by_release: BTreeMap<(String, String), Vec<&Vulnerability>> = BTreeMap::new();
            for v in &self.vulnerabilities {
                by_release.entry((v.package.clone(), v.version.clone())).or_default().push(v);
            }
            lines.push(format!(
                "warning: {} known vulnerabilit{} in {} resolved release{} (PyPI advisories; \
                 the app's pins are kept as they are, change requirements.txt to move):",
                self.vulnerabilities.len(),
                if self.vulnerabilities.len() == 1 { "y" } else { "ies" },
                by_release.len(),
                if by_release.len() == 1 { "" } else { "s" },
            ));
            for ((package, version), vulns) in by_release {
                let each: Vec<String> = vulns
                    .iter()
                    .map(|v| {
                        let mut also = v.aliases.clone();
                        if !v.fixed_in.is_empty() {
                            also.push(format!("fixed in {}", v.fixed_in.join(", ")));
                        }
                        if also.is_empty() {
                            v.id.clone()
                        } else {
                            format!("{} ({})", v.id, also.join("; "))
                        }
                    })
                    .collect();
                lines.push(format!("  {package} {version}: {}", each.join(", ")));
            }
        }
        if self.unchecked > 0 && self.advisory_source != "off" {
            lines.push(format!(
                "warning: known vulnerabilities not checked for {} of {} releases: {}",
                self.unchecked,
                self.pins.len(),
                self.unchecked_why.as_deref().unwrap_or("no answer")
            ));
        }
        (!lines.is_empty()).then(|| lines.join("\n"))
    }

    /// How many releases were not checked, for `--json` (null: none could be).
    pub fn unchecked_json(&self) -> serde_json::Value {
        unchecked_count(Some(&self.vulnerability_label())).into()
    }

    /// The advisories as data, for `--json`; null when none could be asked.
    pub fn vulnerabilities_json(&self) -> serde_json::Value {
        if self.vulnerability_label() == "unchecked" {
            return serde_json::Value::Null;
        }
        let list: Vec<serde_json::Value> = self
            .vulnerabilities
            .iter()
            .map(|v| {
                serde_json::json!({
                    "package": v.package,
                    "version": v.version,
                    "id": v.id,
                    "aliases": v.aliases,
                    "fixed_in": v.fixed_in,
                    "summary": v.summary,
                })
            })
            .collect();
        serde_json::Value::Array(list)
    }
}

/// The inputs of a build as labels (`*_LABEL`).
pub fn labels(
    base_image: &str,
    base_id: &str,
    key: &str,
    lock: &Lock,
) -> std::collections::HashMap<String, String> {
    std::collections::HashMap::from([
        (BASE_IMAGE_LABEL.to_string(), base_image.to_string()),
        (BASE_ID_LABEL.to_string(), base_id.to_string()),
        (RECIPE_LABEL.to_string(), recipe().to_string()),
        (KEY_LABEL.to_string(), key.to_string()),
        (PINS_LABEL.to_string(), lock.pins.join(" ")),
        (RESOLUTION_LABEL.to_string(), lock.resolution()),
        (VULNERABILITIES_LABEL.to_string(), lock.vulnerability_label()),
    ])
}

/// The inputs as `--json` shows them, read from labels (what a running revision keeps).
pub fn inputs_json(labels: &std::collections::HashMap<String, String>) -> serde_json::Value {
    let get = |k: &str| labels.get(k).map(String::as_str);
    let words = |k: &str| get(k).map(|v| v.split_whitespace().collect::<Vec<_>>());
    let (rule, cutoff) = match get(RESOLUTION_LABEL).map(|r| r.split_once(' ')) {
        Some(Some((rule, cutoff))) => (Some(rule), Some(cutoff)),
        Some(None) => (get(RESOLUTION_LABEL), None),
        None => (None, None),
    };
    serde_json::json!({
        "base_image": get(BASE_IMAGE_LABEL),
        "base_image_id": get(BASE_ID_LABEL),
        "recipe": get(RECIPE_LABEL),
        "key": get(KEY_LABEL),
        "pins": words(PINS_LABEL),
        "resolution": rule,
        "resolved_as_of": cutoff,
    })
}

/// The vulnerabilities a label lists, as `--json` shows them (package, version, id); null when
/// they were not checked.
pub fn vulnerabilities_from_label(label: Option<&str>) -> serde_json::Value {
    if vulnerability_count(label).is_none() {
        return serde_json::Value::Null;
    }
    let list: Vec<serde_json::Value> = label
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|entry| {
            let (pin, id) = entry.split_once(':')?;
            let (package, version) = pin.split_once("==")?;
            Some(serde_json::json!({"package": package, "version": version, "id": id}))
        })
        .collect();
    serde_json::Value::Array(list)
}

/// A resolution label (`pins 2021-10-05T14:34:52Z`) in words.
pub fn describe_resolution(label: Option<&str>) -> String {
    let (rule, cutoff) = match label.map(|l| l.split_once(' ')) {
        Some(Some((rule, cutoff))) => (rule, cutoff),
        Some(None) => (label.unwrap_or_default(), ""),
        None => return "resolution unknown".to_string(),
    };
    match rule {
        "pins" => format!("as of {cutoff}, by the pins' upload times"),
        "requirements-commit" => format!("as of {cutoff}, when requirements.txt last changed"),
        "none" => "as of the build (no pins, no history)".to_string(),
        other => format!("{other} {cutoff}"),
    }
}

/// How many known vulnerabilities a vulnerabilities label lists (None: unknown).
pub fn vulnerability_count(label: Option<&str>) -> Option<usize> {
    match label {
        None | Some("unchecked") => None,
        Some(entries) => Some(entries.split_whitespace().filter(|e| e.contains("==")).count()),
    }
}

/// How many releases a vulnerabilities label says were not checked (None: none were).
pub fn unchecked_count(label: Option<&str>) -> Option<usize> {
    match label {
        None | Some("unchecked") => None,
        Some(entries) => Some(
            entries
                .split_whitespace()
                .find_map(|e| e.strip_prefix("unchecked:")?.parse().ok())
                .unwrap_or(0),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"{
 "advisories": {"checked": 2, "source": "https://pypi.org/pypi", "unknown": [],
  "vulnerabilities": [{"aliases": ["CVE-2024-1135"], "fixed_in": ["22.0.0"], "id": "GHSA-w3h3-4rj7-4ph4",
   "link": null, "package": "gunicorn", "summary": "Request smuggling", "version": "20.1.0"}]},
 "cutoff": "2021-10-05T20:01:36Z", "pins": ["flask==2.0.2", "gunicorn==20.1.0"],
 "rule": "pins", "version": 1, "why": "a day after flask 2.0.2"}"#;

    #[test]
    fn the_lock_record_is_read_with_its_advisories() {
        let lock = Lock::parse(LOCK).expect("parse");
        assert_eq!(lock.pins, ["flask==2.0.2", "gunicorn==20.1.0"]);
        assert_eq!(lock.resolution(), "pins 2021-10-05T20:01:36Z");
        assert_eq!(lock.vulnerability_label(), "gunicorn==20.1.0:GHSA-w3h3-4rj7-4ph4");
        let warning = lock.warning().expect("a warning");
        assert!(
            warning
                .contains("gunicorn 20.1.0: GHSA-w3h3-4rj7-4ph4 (CVE-2024-1135; fixed in 22.0.0)"),
            "{warning}"
        );
        assert_eq!(lock.vulnerabilities_json()[0]["fixed_in"][0], "22.0.0");
    }

    #[test]
    fn unreachable_advisories_are_said_not_hidden() {
        let json = LOCK.replace(
            r#""unknown": []"#,
            r#""unknown": [{"pin": "flask==2.0.2", "error": "HTTP Error 404: Not Found"}]"#,
        );
        let lock = Lock::parse(&json).expect("parse");
        assert!(
            lock.warning()
                .expect("warning")
                .contains("not checked for 1 of 2 releases: HTTP Error 404")
        );
        assert!(Lock::parse("{}").is_err());
        assert_eq!(vulnerability_count(Some("none")), Some(0));
        assert_eq!(
            describe_resolution(Some("pins 2021-10-05T14:34:52Z")),
            "as of 2021-10-05T14:34:52Z, by the pins' upload times"
        );
        assert_eq!(vulnerability_count(Some("unchecked")), None);
        assert_eq!(vulnerability_count(Some("a==1:X b==2:Y")), Some(2));
        assert_eq!(vulnerability_count(Some("a==1:X unchecked:3")), Some(1));
        assert_eq!(unchecked_count(Some("a==1:X unchecked:3")), Some(3));
        assert_eq!(unchecked_count(Some("none")), Some(0));
        assert_eq!(unchecked_count(Some("unchecked")), None);
        let partly = Lock::parse(&json).expect("parse");
        assert_eq!(
            partly.vulnerability_label(),
            "gunicorn==20.1.0:GHSA-w3h3-4rj7-4ph4 unchecked:1"
        );
        assert_eq!(vulnerabilities_from_label(Some("none")), serde_json::json!([]));
        assert_eq!(vulnerabilities_from_label(Some("a==1:GHSA-x"))[0]["id"], "GHSA-x");
        assert!(Lock::parse(r#"{"version": 1, "pins": []}"#).is_err());
    }

    #[test]
    fn requirements_the_lock_cannot_see_are_named() {
        assert_eq!(unsupported_requirement("flask==2.0.2\ngunicorn  # serve\n"), None);
        assert_eq!(unsupported_requirement("--index-url https://x/simple\nflask\n"), None);
        for (text, why) in [
            ("flask\n-r base.txt\n", "includes another requirements file"),
            ("--requirement=base.txt\n", "includes another requirements file"),
            ("-cconstraints.txt\n", "includes another file"),
            ("-e .\n", "editable"),
            ("./vendor/pkg\n", "local path"),
        ] {
            let found = unsupported_requirement(text).unwrap_or_default();
            assert!(found.contains(why), "{text:?}: {found}");
        }
    }

    #[test]
    fn the_key_changes_with_every_input_and_only_with_them() {
        let pins = vec!["flask==2.0.2".to_string()];
        let key = build_key("sha256:aa", "amd64", "r1", &pins);
        assert_eq!(key, build_key("sha256:aa", "amd64", "r1", &pins));
        assert_ne!(key, build_key("sha256:aa", "arm64", "r1", &pins));
        assert_eq!(key.len(), 12);
        assert_ne!(key, build_key("sha256:bb", "amd64", "r1", &pins));
        assert_ne!(key, build_key("sha256:aa", "amd64", "r2", &pins));
        let other = ["flask==2.0.3".to_string()];
        assert_ne!(key, build_key("sha256:aa", "amd64", "r1", &other));
        assert_eq!(tag("abc", &key), format!("abc-{key}"));
        assert_eq!(recipe().len(), 12);
    }
}
