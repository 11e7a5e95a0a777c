//! What a command ends with: its result as text lines and as one JSON object, built once and
//! printed once (by `run`) on stdout as `--json` says. Progress goes to stderr on its own.

/// A command's result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// The lines printed without `--json` (the URL last, where there is one).
    pub text: Vec<String>,
    /// The object printed with `--json`; none for a command whose output is a stream (`logs`,
    /// `watch`: each round's deploy prints its own).
    pub json: Option<serde_json::Value>,
}

impl Outcome {
    /// An outcome with this JSON object and no text yet.
    pub fn json(json: serde_json::Value) -> Outcome {
        Outcome { text: Vec::new(), json: Some(json) }
    }

    /// Nothing more on stdout.
    pub fn none() -> Outcome {
        Outcome::default()
    }

    /// Adds a line of text.
    pub fn line(mut self, line: impl Into<String>) -> Outcome {
        self.text.push(line.into());
        self
    }

    /// Prints it: the JSON object with `--json`, else the lines.
    pub fn print(&self, json: bool) {
        match (&self.json, json) {
            (Some(object), true) => crate::out!("{object}"),
            (None, true) => {}
            (_, false) => {
                for line in &self.text {
                    crate::out!("{line}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Outcome;

    #[test]
    fn an_outcome_has_its_text_and_its_json() {
        let outcome = Outcome::json(serde_json::json!({"url": "http://x/"})).line("http://x/");
        assert_eq!(outcome.text, ["http://x/"]);
        assert_eq!(outcome.json.as_ref().map(|j| j["url"].clone()), Some("http://x/".into()));
        assert_eq!(Outcome::none(), Outcome { text: Vec::new(), json: None });
    }
}
