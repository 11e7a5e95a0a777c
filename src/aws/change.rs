//! What a run would do to one resource, as data: each resource module finds what is there and
//! compares it with what it wants in a pure function (`Diff`); `deploy` applies the difference,
//! `plan` prints it, `destroy` lists what it deletes in the same form.

use std::fmt::Display;

/// What becomes of one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Create,
    /// What differs, each as `what: found → wanted`.
    Update(Vec<String>),
    Unchanged,
    /// Found without the prefix's tags: a deploy stops (unless `--adopt`), destroy leaves it.
    Foreign,
    Delete,
}

/// One resource and what becomes of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// As a person reads it: `target group ann-aws-app`.
    pub what: String,
    pub action: Action,
}

impl Change {
    pub fn new(what: impl Into<String>, action: Action) -> Change {
        Change { what: what.into(), action }
    }

    /// `create`, `update` when something differs, else `unchanged`.
    pub fn from_diff(what: impl Into<String>, found: bool, diff: Diff) -> Change {
        let action = match (found, diff.0.is_empty()) {
            (false, _) => Action::Create,
            (true, true) => Action::Unchanged,
            (true, false) => Action::Update(diff.0),
        };
        Change::new(what, action)
    }

    pub fn word(&self) -> &'static str {
        match self.action {
            Action::Create => "create",
            Action::Update(_) => "update",
            Action::Unchanged => "unchanged",
            Action::Foreign => "not this prefix's",
            Action::Delete => "delete",
        }
    }

    /// One line: `update     target group ann-aws-app (health check interval 30 → 5)`.
    pub fn line(&self) -> String {
        let mut line = format!("{:<10} {}", self.word(), self.what);
        if let Action::Update(what) = &self.action {
            line.push_str(&format!(" ({})", what.join("; ")));
        }
        line
    }

    pub fn to_json(&self) -> serde_json::Value {
        let differences = match &self.action {
            Action::Update(what) => what.clone(),
            _ => Vec::new(),
        };
        serde_json::json!({"resource": self.what, "action": self.word(), "differences": differences})
    }
}

/// The differences between what is found and what is wanted, built by pure comparisons.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Diff(pub Vec<String>);

impl Diff {
    /// Records `what found → wanted` when they differ (`none` when nothing was found).
    pub fn compare<T: PartialEq + Display>(&mut self, what: &str, found: Option<T>, wanted: T) {
        if found.as_ref() != Some(&wanted) {
            let found = found.map_or_else(|| "none".to_string(), |f| f.to_string());
            self.0.push(format!("{what} {found} → {wanted}"));
        }
    }

    /// Records a difference described in words.
    pub fn note(&mut self, what: impl Into<String>) {
        self.0.push(what.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diff_names_what_differs_and_how() {
        let mut diff = Diff::default();
        diff.compare("interval", Some(30), 5);
        diff.compare("path", Some("/"), "/");
        diff.compare("retention", None::<i32>, 30);
        assert_eq!(diff.0, ["interval 30 → 5", "retention none → 30"]);
        let change = Change::from_diff("target group t", true, diff);
        assert_eq!(
            change.line(),
            "update     target group t (interval 30 → 5; retention none → 30)"
        );
        assert_eq!(change.to_json()["differences"][1], "retention none → 30");
        assert_eq!(Change::from_diff("x", true, Diff::default()).action, Action::Unchanged);
        assert_eq!(Change::from_diff("x", false, Diff::default()).action, Action::Create);
    }
}
