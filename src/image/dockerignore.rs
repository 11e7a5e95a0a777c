//! `.dockerignore` with Docker's own semantics (moby's patternmatcher), so the context aws-app
//! sends is the one `docker build` would send:
//! - one file, at the context root; `#` lines are comments; blank lines are skipped;
//! - patterns are cleaned paths relative to the root (a leading `/` is dropped): `foo` matches
//!   only the top-level `foo`, never `a/foo`;
//! - `*` and `?` stay within one path segment, `**` spans any number of them, `[...]` is a
//!   character class as in Go's regexp (`[^...]` negates; `!` inside is a plain character),
//!   `\` escapes;
//! - a pattern that matches a directory excludes everything below it, and the walk skips such a
//!   directory unless a `!` pattern starts with its path;
//! - `!pattern` re-includes, and the last matching pattern wins;
//! - a lone `!` or an unclosed `[` is an error, as it fails `docker build`.

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
    /// The cleaned pattern text, for Docker's "may re-include below this directory" test.
    text: String,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
}

impl DockerIgnore {
    /// Parses a `.dockerignore`; an invalid line is an error naming it, as in `docker build`.
    pub fn parse(text: &str) -> Result<DockerIgnore, String> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for (number, line) in text.lines().enumerate() {
            if line.starts_with('#') {
                continue;
            }
            let mut pattern = line.trim();
            if pattern.is_empty() {
                continue;
            }
            let bad = |why: &str| format!(".dockerignore line {}: {why}: {line:?}", number + 1);
            let exclusion = pattern.starts_with('!');
            if exclusion {
                pattern = pattern[1..].trim();
                if pattern.is_empty() {
                    return Err(bad("illegal exclusion pattern"));
                }
            }
            let cleaned = clean(pattern);
            let cleaned = cleaned.strip_prefix('/').filter(|s| !s.is_empty()).unwrap_or(&cleaned);
            let tokens = compile(cleaned).ok_or_else(|| bad("syntax error in pattern"))?;
            patterns.push(Pattern { exclusion, text: cleaned.to_string(), tokens });
        }
        Ok(DockerIgnore { patterns })
    }

    /// Whether the walk must still enter the excluded directory `dir`: Docker does so only when
    /// a `!` pattern starts with the directory's path.
    pub fn may_reinclude_below(&self, dir: &str) -> bool {
        let dir = format!("{dir}/");
        self.patterns.iter().any(|p| p.exclusion && format!("{}/", p.text).starts_with(&dir))
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

fn compile(pattern: &str) -> Option<Vec<Token>> {
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
                let (class, next) = compile_class(&chars, i)?;
                tokens.push(class);
                i = next;
                continue;
            }
            c => tokens.push(Token::Literal(c)),
        }
        i += 1;
    }
    Some(tokens)
}

/// Parses `[...]` starting at `start`; returns the class and the index after `]`.
fn compile_class(chars: &[char], start: usize) -> Option<(Token, usize)> {
    let mut i = start + 1;
    let negated = chars.get(i) == Some(&'^');
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
    // Memo of (token index, text index) -> result: patterns with several `*` stay linear-ish
    // instead of exponential on long names.
    let mut memo = vec![None; (tokens.len() + 1) * (text.len() + 1)];
    Matcher { tokens, text: &text, memo: &mut memo }.at(0, 0)
}

struct Matcher<'a> {
    tokens: &'a [Token],
    text: &'a [char],
    memo: &'a mut Vec<Option<bool>>,
}

impl Matcher<'_> {
    fn at(&mut self, t: usize, p: usize) -> bool {
        let key = t * (self.text.len() + 1) + p;
        if let Some(known) = self.memo[key] {
            return known;
        }
        let result = self.compute(t, p);
        self.memo[key] = Some(result);
        result
    }

    fn compute(&mut self, t: usize, p: usize) -> bool {
        let Some(token) = self.tokens.get(t) else {
            return p == self.text.len();
        };
        let here = self.text.get(p).copied();
        match token {
            Token::Literal(c) => here == Some(*c) && self.at(t + 1, p + 1),
            Token::One => here.is_some_and(|c| c != '/') && self.at(t + 1, p + 1),
            // A Go regexp class: it may match `/` too.
            Token::Class { negated, ranges } => {
                here.is_some_and(|c| ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *negated)
                    && self.at(t + 1, p + 1)
            }
            // Stop here, or eat one more character of the segment and stay on `*`.
            Token::Star => {
                self.at(t + 1, p) || (here.is_some_and(|c| c != '/') && self.at(t, p + 1))
            }
            Token::Rest => true,
            // Zero segments, or any prefix that ends just after a `/`.
            Token::AnySegments => {
                self.at(t + 1, p)
                    || (p..self.text.len()).any(|i| self.text[i] == '/' && self.at(t + 1, i + 1))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DockerIgnore;

    fn parse(rules: &str) -> DockerIgnore {
        DockerIgnore::parse(rules).expect("valid .dockerignore")
    }

    fn excluded(rules: &str, path: &str) -> bool {
        parse(rules).is_excluded(path)
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
        assert!(!excluded("[^a-c]*.log", "b1.log"));
        assert!(excluded("[^a-c]*.log", "x1.log"));
        assert!(excluded("[!a-c]*.log", "b1.log"), "as in Go's regexp, ! is a plain member");
        assert!(excluded("a[^x]b", "a/b"), "a negated class may match /, as in Docker");
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
    }

    #[test]
    fn excluded_directories_are_entered_only_for_a_reinclusion_below_them() {
        let ignore = parse("build\n!build/keep.txt\n");
        assert!(ignore.may_reinclude_below("build"));
        assert!(!ignore.may_reinclude_below("dist"));
        let ignore = parse("build\n!**/keep.txt\n");
        assert!(!ignore.may_reinclude_below("build"), "Docker skips build/ for this pattern");
        assert!(!parse("build\n").may_reinclude_below("build"));
    }

    #[test]
    fn invalid_lines_are_errors_and_a_bom_is_ignored() {
        let err = DockerIgnore::parse("ok\n!\n").expect_err("a lone ! is illegal");
        assert!(err.contains("line 2: illegal exclusion pattern"), "{err}");
        let err = DockerIgnore::parse("[abc\n").expect_err("unclosed class");
        assert!(err.contains("line 1: syntax error in pattern"), "{err}");
        assert!(excluded("\u{feff}app.py\n", "app.py"));
    }

    #[test]
    fn many_stars_on_a_long_name_stay_fast() {
        let name = "a".repeat(5000);
        assert!(!excluded("*a*a*a*a*a*a*a*a*a*a*b", &name));
    }

    #[test]
    fn comments_and_blank_lines_are_not_patterns() {
        assert!(!excluded("#app.py\n   \n", "app.py"));
        assert!(excluded("  app.py  ", "app.py"), "whitespace is trimmed");
    }
}
