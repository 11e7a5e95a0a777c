//! `.dockerignore` with Docker's own semantics (moby's patternmatcher), so the context aws-app
//! sends is the one `docker build` would send:
//! - one file, at the context root; `#` lines are comments; blank lines are skipped;
//! - patterns are cleaned paths relative to the root (a leading `/` is dropped): `foo` matches
//!   only the top-level `foo`, never `a/foo`;
//! - `*` and `?` stay within one path segment, `**` spans any number of them, `[...]` is a class,
//!   `\` escapes;
//! - a pattern that matches a directory excludes everything below it;
//! - `!pattern` re-includes, and the last matching pattern wins.

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Literal(char),
    /// `?`: one character other than `/`.
    One,
    /// `*`: any run of characters other than `/`.
    Star,
    /// `**` followed by more pattern: any run of whole segments, possibly none (`(.*/)?`).
    AnySegments,
    /// `**` at the end: anything at all.
    Rest,
    /// `[...]`, `[^...]` or `[!...]`.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

#[derive(Debug, Clone)]
struct Pattern {
    exclusion: bool,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
}

impl DockerIgnore {
    pub fn parse(text: &str) -> DockerIgnore {
        let mut patterns = Vec::new();
        for line in text.lines() {
            if line.starts_with('#') {
                continue;
            }
            let mut pattern = line.trim();
            if pattern.is_empty() {
                continue;
            }
            let exclusion = pattern.starts_with('!');
            if exclusion {
                pattern = pattern[1..].trim();
                if pattern.is_empty() {
                    continue;
                }
            }
            let cleaned = clean(pattern);
            let cleaned = cleaned.strip_prefix('/').filter(|s| !s.is_empty()).unwrap_or(&cleaned);
            patterns.push(Pattern { exclusion, tokens: compile(cleaned) });
        }
        DockerIgnore { patterns }
    }

    /// Whether any pattern re-includes (`!`): then an excluded directory must still be walked.
    pub fn has_exclusions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// Whether `path` (relative, `/`-separated, no leading `/`) is left out of the context.
    pub fn is_excluded(&self, path: &str) -> bool {
        let parents: Vec<&str> = path.split('/').collect();
        let mut matched = false;
        for pattern in &self.patterns {
            // An exclusion can only change an excluded path; a pattern only an included one.
            if pattern.exclusion != matched {
                continue;
            }
            let mut hit = matches(&pattern.tokens, path);
            // A match on any parent directory counts too.
            if !hit && parents.len() > 1 {
                hit = (1..parents.len()).any(|n| matches(&pattern.tokens, &parents[..n].join("/")));
            }
            if hit {
                matched = !pattern.exclusion;
            }
        }
        matched
    }
}

/// Go's `filepath.Clean` for `/`-separated paths.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|p| *p != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            p => out.push(p),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

fn compile(pattern: &str) -> Vec<Token> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                tokens.push(if i >= chars.len() { Token::Rest } else { Token::AnySegments });
                continue;
            }
            '*' => tokens.push(Token::Star),
            '?' => tokens.push(Token::One),
            '\\' if i + 1 < chars.len() => {
                i += 1;
                tokens.push(Token::Literal(chars[i]));
            }
            '[' => {
                if let Some((class, next)) = compile_class(&chars, i) {
                    tokens.push(class);
                    i = next;
                    continue;
                }
                tokens.push(Token::Literal('['));
            }
            c => tokens.push(Token::Literal(c)),
        }
        i += 1;
    }
    tokens
}

/// Parses `[...]` starting at `start`; returns the class and the index after `]`.
fn compile_class(chars: &[char], start: usize) -> Option<(Token, usize)> {
    let mut i = start + 1;
    let negated = matches!(chars.get(i), Some('^') | Some('!'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    while i < chars.len() {
        let mut c = chars[i];
        if c == ']' && !first {
            return Some((Token::Class { negated, ranges }, i + 1));
        }
        first = false;
        if c == '\\' && i + 1 < chars.len() {
            i += 1;
            c = chars[i];
        }
        if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|&e| e != ']') {
            ranges.push((c, chars[i + 2]));
            i += 3;
        } else {
            ranges.push((c, c));
            i += 1;
        }
    }
    None
}

fn matches(tokens: &[Token], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    match_at(tokens, &text)
}

fn match_at(tokens: &[Token], text: &[char]) -> bool {
    let Some((token, rest)) = tokens.split_first() else {
        return text.is_empty();
    };
    match token {
        Token::Literal(c) => text.first() == Some(c) && match_at(rest, &text[1..]),
        Token::One => text.first().is_some_and(|c| *c != '/') && match_at(rest, &text[1..]),
        Token::Class { negated, ranges } => {
            text.first().is_some_and(|c| {
                *c != '/' && ranges.iter().any(|(lo, hi)| lo <= c && c <= hi) != *negated
            }) && match_at(rest, &text[1..])
        }
        Token::Star => {
            let run = text.iter().take_while(|c| **c != '/').count();
            (0..=run).any(|n| match_at(rest, &text[n..]))
        }
        Token::Rest => true,
        Token::AnySegments => {
            // Zero segments, or any prefix that ends just after a `/`.
            match_at(rest, text)
                || (0..text.len()).any(|i| text[i] == '/' && match_at(rest, &text[i + 1..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DockerIgnore;

    fn excluded(rules: &str, path: &str) -> bool {
        DockerIgnore::parse(rules).is_excluded(path)
    }

    #[test]
    fn patterns_are_anchored_at_the_root() {
        assert!(excluded("foo", "foo"));
        assert!(excluded("foo", "foo/bar.txt"), "a matched directory excludes its contents");
        assert!(!excluded("foo", "a/foo"), "no match below the root");
        assert!(excluded("/foo", "foo"), "a leading slash is dropped");
        assert!(excluded("./foo/../bar", "bar"), "patterns are cleaned");
        assert!(!excluded("*.pyc", "pkg/x.pyc"), "* stays in one segment");
        assert!(excluded("*.pyc", "x.pyc"));
        assert!(excluded("**/*.pyc", "pkg/sub/x.pyc"));
        assert!(excluded("**/*.pyc", "x.pyc"), "** may be no segment at all");
        assert!(excluded("docs/**", "docs/a/b"));
        assert!(excluded("a/**/b", "a/b"));
        assert!(excluded("a/**/b", "a/x/y/b"));
        assert!(!excluded("a/**/b", "a/x/yb"));
        assert!(excluded("te?t", "test"));
        assert!(!excluded("te?t", "te/t"));
        assert!(excluded("[a-c]*.log", "b1.log"));
        assert!(!excluded("[!a-c]*.log", "b1.log"));
        assert!(excluded("\\*star", "*star"));
        assert!(!excluded("\\*star", "xstar"));
    }

    #[test]
    fn last_match_wins_and_negation_reincludes() {
        let rules = "# comment\n\n*.md\n!README.md\n";
        assert!(excluded(rules, "NOTES.md"));
        assert!(!excluded(rules, "README.md"));
        let rules = "*.md\n!README.md\nREADME.md\n";
        assert!(excluded(rules, "README.md"), "a later pattern wins again");
        let rules = "build\n!build/keep.txt\n";
        assert!(excluded(rules, "build/other.txt"));
        assert!(!excluded(rules, "build/keep.txt"));
        assert!(DockerIgnore::parse(rules).has_exclusions());
        assert!(!DockerIgnore::parse("build\n").has_exclusions());
    }

    #[test]
    fn comments_and_blank_lines_are_not_patterns() {
        assert!(!excluded("#app.py\n   \n", "app.py"));
        assert!(excluded("  app.py  ", "app.py"), "whitespace is trimmed");
    }
}
