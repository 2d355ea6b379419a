//! Numbers in an answer that nothing shows: a small model that printed the parts of a result sometimes adds
//! them up in its head, and gets it wrong (measured: "the sum of the squares ... is 33125" after code that
//! printed the fifty squares; the sum is 42925). An answer's number is *grounded* when the question, the code
//! that ran or what it printed shows it, exactly or rounded to the answer's digits; a guided turn asks once
//! for code that prints a number that is not ([`crate::turn::policy::TurnPolicy`]).

/// How many numbers the evidence keeps (a long printout adds nothing after this many).
const MAX_EVIDENCE: usize = 20_000;

/// Numbers of at most this size without a fraction are never questioned: counts, list positions and the like,
/// which a sentence states without anything printing them.
const SMALL: f64 = 10.0;

/// The numbers a turn has seen: the question, the code that ran, what it printed and returned.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    numbers: Vec<f64>,
}

impl Evidence {
    /// Takes in the numbers of `text`.
    pub fn add(&mut self, text: &str) {
        for number in numbers(text) {
            if self.numbers.len() >= MAX_EVIDENCE {
                return;
            }
            self.numbers.push(number.value);
        }
    }

    /// Whether any code has printed or returned anything yet (nothing to hold an answer to otherwise).
    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty()
    }

    /// The first number of `answer` (as written) that the evidence does not show, if any.
    pub fn ungrounded<'a>(&self, answer: &'a str) -> Option<&'a str> {
        numbers(answer).find(|n| !self.shows(n)).map(|n| n.text)
    }

    fn shows(&self, n: &Number<'_>) -> bool {
        if n.decimals == 0 && n.value.abs() <= SMALL {
            return true;
        }
        // The sign is not checked: "359 days between" after `timedelta(days=-359)`.
        let answer = n.value.abs();
        self.numbers.iter().map(|e| e.abs()).any(|e| {
            same(answer, e, n.decimals)
                || (n.percent && same(answer, e * 100.0, n.decimals))
                // "1.27 billion", "5k": the answer scaled what was printed; let it be.
                || (e >= 1000.0 && answer < 1000.0 && n.decimals > 0 && scaled(answer, e, n.decimals))
        })
    }
}

/// `answer` equals `printed`, or `printed` rounded (or cut) to `decimals` places.
fn same(answer: f64, printed: f64, decimals: u32) -> bool {
    let scale = 10f64.powi(decimals.min(12) as i32);
    let tolerance = 1e-9 * answer.abs().max(1.0);
    (answer - printed).abs() <= tolerance
        || ((printed * scale).round() / scale - answer).abs() <= tolerance
        || ((printed * scale).trunc() / scale - answer).abs() <= tolerance
}

/// `answer` is `printed` in thousands, millions or billions, rounded to `decimals` places.
fn scaled(answer: f64, printed: f64, decimals: u32) -> bool {
    [1e3, 1e6, 1e9].iter().any(|unit| same(answer, printed / unit, decimals))
}

/// A number as written in a text.
#[derive(Debug, Clone, PartialEq)]
struct Number<'a> {
    text: &'a str,
    value: f64,
    decimals: u32,
    percent: bool,
}

/// The numbers of `text`: digits with an optional sign, thousands separated by commas (`42,925`), a decimal
/// point and an exponent; a comma not followed by exactly three digits ends a number.
fn numbers(text: &str) -> impl Iterator<Item = Number<'_>> + '_ {
    let bytes = text.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < bytes.len() {
            let start = at;
            if !bytes[at].is_ascii_digit() {
                at += 1;
                continue;
            }
            // Part of a word (`x2`, `utf8`, `0x1F`): not a number.
            let glued = start > 0 && (bytes[start - 1].is_ascii_alphabetic() || bytes[start - 1] == b'_');
            let negative =
                start > 0 && bytes[start - 1] == b'-' && (start == 1 || !bytes[start - 2].is_ascii_alphanumeric());
            let mut end = start;
            let mut decimals = 0u32;
            let mut in_fraction = false;
            while end < bytes.len() {
                let c = bytes[end];
                if c.is_ascii_digit() {
                    if in_fraction {
                        decimals += 1;
                    }
                    end += 1;
                } else if c == b','
                    && !in_fraction
                    && bytes.get(end + 1..end + 4).is_some_and(|d| d.iter().all(u8::is_ascii_digit))
                    && !bytes.get(end + 4).is_some_and(u8::is_ascii_digit)
                {
                    end += 4;
                } else if c == b'.' && !in_fraction && bytes.get(end + 1).is_some_and(u8::is_ascii_digit) {
                    in_fraction = true;
                    end += 1;
                } else {
                    break;
                }
            }
            // An exponent: `1.2e+30`.
            if matches!(bytes.get(end), Some(b'e' | b'E')) {
                let sign = usize::from(matches!(bytes.get(end + 1), Some(b'+' | b'-')));
                let digits =
                    bytes[(end + 1 + sign).min(bytes.len())..].iter().take_while(|c| c.is_ascii_digit()).count();
                if digits > 0 {
                    end += 1 + sign + digits;
                }
            }
            at = end;
            if glued || bytes.get(end).is_some_and(|c| c.is_ascii_alphabetic() && *c != b'e' && *c != b'E') {
                continue;
            }
            let written = &text[start..end];
            let Ok(mut value) = written.replace(',', "").parse::<f64>() else { continue };
            if !value.is_finite() {
                continue;
            }
            if negative {
                value = -value;
            }
            let percent = bytes.get(end) == Some(&b'%');
            return Some(Number { text: written, value, decimals, percent });
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn evidence(texts: &[&str]) -> Evidence {
        let mut e = Evidence::default();
        for t in texts {
            e.add(t);
        }
        e
    }

    #[test]
    fn reads_numbers_as_people_write_them() {
        let found: Vec<(String, f64, u32)> =
            numbers("Total 42,925 and 1.414; -3, x2 utf8 0x1F 1.2e+30 8,4 12.5% 2024-12-25")
                .map(|n| (n.text.to_owned(), n.value, n.decimals))
                .collect();
        let expected = [
            ("42,925", 42925.0, 0),
            ("1.414", 1.414, 3),
            ("3", -3.0, 0),
            ("1.2e+30", 1.2e30, 1),
            ("8", 8.0, 0),
            ("4", 4.0, 0),
            ("12.5", 12.5, 1),
            ("2024", 2024.0, 0),
            ("12", 12.0, 0),
            ("25", 25.0, 0),
        ];
        let expected: Vec<(String, f64, u32)> = expected.iter().map(|(t, v, d)| ((*t).to_owned(), *v, *d)).collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn an_answer_that_adds_up_in_its_head_is_caught() {
        let squares: String = (1..=50).map(|i| format!("{}\n", i * i)).collect();
        let seen = evidence(&["What is the sum of the squares of the integers from 1 to 50?", &squares]);
        assert_eq!(seen.ungrounded("The sum of the squares of the integers from 1 to 50 is 33125."), Some("33125"));
        let summed = evidence(&["the sum of squares from 1 to 50", "print(sum(i*i for i in range(1, 51)))", "42925\n"]);
        assert_eq!(summed.ungrounded("The sum is 42,925."), None);
    }

    #[test]
    fn rounding_percentages_and_units_are_grounded() {
        let seen = evidence(&[
            "What is 2**100?",
            "1.4142135623730951\n",
            "0.125\n",
            "153.0\n",
            "1267650600228229401496703205376\n",
        ]);
        for answer in [
            "The square root of 2 is 1.414.",
            "About 1.41, or 1.4142135623730951 exactly.",
            "It is 12.5% of the total.",
            "The mean is 153 (153.00 rounded).",
            "2**100 is 1267650600228229401496703205376.",
            "There are 3 rows and 7 columns.",
        ] {
            assert_eq!(seen.ungrounded(answer), None, "{answer}");
        }
        let days = evidence(&["datetime.timedelta(days=-359)"]);
        assert_eq!(days.ungrounded("There are 359 days between them."), None);
        let money = evidence(&["1834567.0\n"]);
        assert_eq!(money.ungrounded("Sales were 1.83 million."), None);
        assert_eq!(money.ungrounded("Sales were 1.9 million."), Some("1.9"));
        assert_eq!(seen.ungrounded("The answer is 98.3."), Some("98.3"));
    }

    proptest! {
        #[test]
        fn any_text_is_read_without_panicking(text in ".{0,200}", printed in "[0-9.,e%+-]{0,40}") {
            let seen = evidence(&[&printed]);
            let _ = seen.ungrounded(&text);
            for n in numbers(&text) {
                prop_assert!(n.value.is_finite());
                prop_assert!(text.contains(n.text));
            }
        }
    }
}
