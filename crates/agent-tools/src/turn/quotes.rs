//! Quoted text in an answer that is almost, but not exactly, what the code printed. Small models copy long
//! strings badly (measured: the 1.5B printed `snoisses cimanyd` and answered "... is 'noisses cimanyd'"). A
//! quoted stretch of an answer that no printed line contains, but that a printed stretch of as many words
//! misses by a character or two, is a miscopy; a guided turn asks once for the answer again, showing the
//! printed text ([`crate::turn::policy::TurnPolicy`]).

/// How many printed lines are kept, and the longest kept.
const MAX_LINES: usize = 2_000;
const MAX_LINE_CHARS: usize = 200;

/// Quoted stretches shorter than this are not checked (`'a'`, `"id"`).
const MIN_QUOTE_CHARS: usize = 5;

/// The lines the turn's code printed or returned, and the text an answer may quote as it is besides them (the
/// user's words, the code).
#[derive(Debug, Clone, Default)]
pub struct Printed {
    lines: Vec<String>,
    context: Vec<String>,
}

impl Printed {
    /// Takes in the lines of the result of code that ran.
    pub fn add(&mut self, text: &str) {
        for line in text.lines().map(str::trim) {
            if self.lines.len() >= MAX_LINES {
                return;
            }
            if !line.is_empty() && line.chars().count() <= MAX_LINE_CHARS {
                self.lines.push(line.to_owned());
            }
        }
    }

    /// Takes in text an answer may quote but that is no output: a quote found whole in it is no miscopy
    /// ("`'python'` becomes `'Python'`").
    pub fn add_context(&mut self, text: &str) {
        if self.context.len() < MAX_LINES {
            self.context.push(text.to_owned());
        }
    }

    /// The first quoted stretch of `answer` that is a miscopy of a printed stretch, with that stretch.
    pub fn misquoted<'a>(&'a self, answer: &'a str) -> Option<(&'a str, &'a str)> {
        quoted(answer).find_map(|quote| {
            // A fenced block is no quote; punctuation inside the quotes ("... is "abc."") is not part of it.
            if quote.contains('\n') {
                return None;
            }
            let quote =
                quote.trim_matches(|c: char| c.is_whitespace() || QUOTES.contains(&c) || PUNCTUATION.contains(c));
            let whole = |text: &String| contains_whole(text, quote);
            if quote.chars().count() < MIN_QUOTE_CHARS || self.lines.iter().chain(&self.context).any(whole) {
                return None;
            }
            let words = quote.split_whitespace().count();
            let allowed = (quote.chars().count() / 8).clamp(1, 3);
            self.lines
                .iter()
                .flat_map(|line| windows(line, words))
                .find(|printed| *printed != quote && distance(quote, printed, allowed) <= allowed)
                .map(|printed| (quote, printed))
        })
    }
}

const QUOTES: [char; 3] = ['\'', '"', '`'];
/// Punctuation that may end a quote or a printed stretch without being part of it.
const PUNCTUATION: &str = ",.;:!?";

/// Whether `line` contains `part` not as a piece of a longer word (`noisses` is in `snoisses`, but not whole).
fn contains_whole(line: &str, part: &str) -> bool {
    line.match_indices(part).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + part.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// The stretches of `text` between a pair of the same quote character, the opening one not ending a word
/// (`it's`) and the closing one not starting one.
fn quoted(text: &str) -> impl Iterator<Item = &str> + '_ {
    let mut rest = text;
    let mut before: Option<char> = None;
    std::iter::from_fn(move || {
        loop {
            let (at, quote) = rest.char_indices().find(|&(i, c)| {
                QUOTES.contains(&c) && !rest[..i].chars().next_back().or(before).is_some_and(char::is_alphanumeric)
            })?;
            let inside_start = at + quote.len_utf8();
            let inside = &rest[inside_start..];
            let close = inside.char_indices().find(|&(i, c)| {
                c == quote && !inside[i + c.len_utf8()..].chars().next().is_some_and(char::is_alphanumeric)
            });
            match close {
                Some((end, c)) => {
                    let found = &inside[..end];
                    before = Some(c);
                    rest = &inside[end + c.len_utf8()..];
                    return Some(found);
                }
                None => {
                    before = Some(quote);
                    rest = inside;
                }
            }
        }
    })
}

/// Every stretch of `words` consecutive words of `line`, without quotes around it.
fn windows(line: &str, words: usize) -> impl Iterator<Item = &str> + '_ {
    let spans: Vec<(usize, usize)> = word_spans(line).collect();
    let count = spans.len().saturating_sub(words.max(1) - 1);
    (0..count).filter_map(move |i| {
        let (start, _) = spans.get(i)?;
        let (_, end) = spans.get(i + words.max(1) - 1)?;
        let stretch = line.get(*start..*end)?.trim_matches(|c| QUOTES.contains(&c) || PUNCTUATION.contains(c));
        (!stretch.is_empty()).then_some(stretch)
    })
}

/// The byte spans of the whitespace-separated words of `line`.
fn word_spans(line: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut start = None;
    line.char_indices().chain(std::iter::once((line.len(), ' '))).filter_map(move |(i, c)| {
        match (c.is_whitespace(), start) {
            (false, None) => {
                start = Some(i);
                None
            }
            (true, Some(s)) => {
                start = None;
                Some((s, i))
            }
            _ => None,
        }
    })
}

/// The edit distance of `a` and `b` in characters; anything above `limit` is `limit + 1`.
fn distance(a: &str, b: &str, limit: usize) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > limit {
        return limit + 1;
    }
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let change = previous[j] + usize::from(ca != cb);
            current.push(change.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        if current.iter().min().is_some_and(|&m| m > limit) {
            return limit + 1;
        }
        previous = current;
    }
    previous.last().copied().unwrap_or(0).min(limit + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn printed(texts: &[&str]) -> Printed {
        let mut p = Printed::default();
        for t in texts {
            p.add(t);
        }
        p
    }

    #[test]
    fn quoted_stretches_are_found_and_apostrophes_are_not_quotes() {
        let found: Vec<&str> =
            quoted("It's 'dynamic sessions' reversed: \"snoisses cimanyd\", and `s[::-1]`; don't 'stop").collect();
        assert_eq!(found, ["dynamic sessions", "snoisses cimanyd", "s[::-1]"]);
    }

    #[test]
    fn a_string_copied_with_a_slip_is_a_miscopy_and_a_true_copy_is_not() {
        let seen = printed(&["The code ran successfully. It printed:\nsnoisses cimanyd"]);
        let answer = "The reversed string of 'dynamic sessions' is 'noisses cimanyd'.";
        assert_eq!(seen.misquoted(answer), Some(("noisses cimanyd", "snoisses cimanyd")));
        assert_eq!(seen.misquoted("It is 'snoisses cimanyd'."), None);
        // A printed repr in quotes, inside a longer line.
        let repr = printed(&["The value of its last expression is:\n'Hello, World!'"]);
        assert_eq!(repr.misquoted("It returned \"Hello World!\"."), Some(("Hello World", "Hello, World")));
        // Different words are not a miscopy, nor are short quotes.
        assert_eq!(seen.misquoted("Use 'pandas' and 'numpy'."), None);
        assert_eq!(seen.misquoted("It printed 'snois'."), None);
        // A true copy with punctuation inside the quotes, with spaces, or in a fenced block, is no miscopy.
        for copy in ["It is \"snoisses cimanyd.\"", "It is 'snoisses cimanyd '.", "It is:\n```\nsnoisses cimanyd\n```"]
        {
            assert_eq!(seen.misquoted(copy), None, "{copy}");
        }
        // What the user wrote may be quoted as it is.
        let mut asked = printed(&["Python"]);
        asked.add_context("Capitalise 'python' for me");
        assert_eq!(asked.misquoted("'python' becomes 'Python'."), None);
        assert_eq!(distance("kitten", "sitting", 5), 3);
        assert_eq!(distance("kitten", "sitting", 1), 2);
    }

    proptest! {
        #[test]
        fn any_text_is_read_without_panicking(answer in ".{0,120}", output in ".{0,120}") {
            let seen = printed(&[&output]);
            if let Some((quote, line)) = seen.misquoted(&answer) {
                prop_assert!(answer.contains(quote));
                prop_assert!(output.contains(line));
            }
            for quote in quoted(&answer) {
                prop_assert!(answer.contains(quote));
            }
        }
    }
}
