//! Numbers in an answer that nothing shows: a small model that printed the parts of a result sometimes adds
//! them up in its head, and gets it wrong (measured: "the sum of the squares ... is 33125" after code that
//! printed the fifty squares; the sum is 42925). An answer's number is *grounded* when the question, the code
//! that ran or what it printed shows it, exactly or rounded to the answer's digits; a guided turn asks once
//! for code that prints a number that is not ([`crate::turn::policy::TurnPolicy`]).

/// How many numbers the evidence keeps: the most recent (a long printout must not push out the result that
/// follows it).
const MAX_EVIDENCE: usize = 20_000;

/// Numbers of at most this size without a fraction are never questioned: counts, list positions and the like,
/// which a sentence states without anything printing them.
const SMALL: f64 = 10.0;

/// Whole numbers in this range are taken for years and never questioned ("as of 2024").
const YEARS: std::ops::RangeInclusive<f64> = 1900.0..=2100.0;

/// Words that scale the number before them.
const SCALES: [(&str, f64); 4] = [("thousand", 1e3), ("million", 1e6), ("billion", 1e9), ("trillion", 1e12)];

/// The numbers a turn has seen: the conversation, the code that ran, what it printed and returned.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    numbers: std::collections::VecDeque<f64>,
}

impl Evidence {
    /// Takes in the numbers of `text`, read both with commas as thousands separators and as field separators
    /// (`150,300` in a CSV row is two numbers).
    pub fn add(&mut self, text: &str) {
        let fields = text.replace(',', " ");
        let values: Vec<f64> = numbers(text).chain(numbers(&fields)).map(|n| n.value.abs()).collect();
        for value in values {
            if self.numbers.len() >= MAX_EVIDENCE {
                self.numbers.pop_front();
            }
            self.numbers.push_back(value);
        }
    }

    /// The first number of `answer` (as written) that the evidence does not show, if any.
    pub fn ungrounded<'a>(&self, answer: &'a str) -> Option<&'a str> {
        numbers(answer).find(|n| !self.shows(n)).map(|n| n.text)
    }

    fn shows(&self, n: &Number<'_>) -> bool {
        let whole = n.tolerance >= 0.5;
        if n.exempt || (whole && n.value.abs() <= SMALL) || (whole && YEARS.contains(&n.value)) {
            return true;
        }
        // The sign is not checked: "359 days between" after `timedelta(days=-359)`.
        let answer = n.value.abs();
        let near = |printed: f64| (answer - printed).abs() <= n.tolerance + 1e-9 * answer.max(1.0);
        self.numbers.iter().any(|&e| near(e) || (n.percent && near(e * 100.0)))
    }
}

/// A number as written in a text.
#[derive(Debug, Clone, PartialEq)]
struct Number<'a> {
    text: &'a str,
    /// Its value, scaled by a word after it ("1.8 million").
    value: f64,
    /// How far from it a printed value may be and still be it written to these digits: half a unit of its
    /// last digit ("1.41" is 1.405 to 1.415; "43,000" is 42,500 to 43,500), scaled as the value is.
    tolerance: f64,
    percent: bool,
    /// Not a quantity: a version ("Python 3.11"; a dotted `3.11.4` is no number at all) or a list marker ("11. ").
    exempt: bool,
}

/// The numbers of `text`: digits with an optional sign, thousands separated by commas (`42,925`, the first
/// group of one to three digits), a decimal point and an exponent; any other comma ends a number (`2023,150`
/// is two).
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
            let shape = Shape::scan(text, start);
            at = shape.end;
            // Part of a word (`x2`, `utf8`, `0x1F`, `v3`, `5k`): not a number.
            let glued = start > 0 && (bytes[start - 1].is_ascii_alphabetic() || bytes[start - 1] == b'_');
            if glued || bytes.get(shape.end).is_some_and(u8::is_ascii_alphabetic) {
                continue;
            }
            if let Some(number) = shape.number(text, start) {
                return Some(number);
            }
        }
        None
    })
}

/// How a number starting at some byte is written.
struct Shape {
    /// Where it ends.
    end: usize,
    /// Digits after the decimal point.
    decimals: i32,
    /// The power of ten after `e`.
    exponent: i32,
    /// A dotted version (`3.11.4`), not a quantity.
    dotted: bool,
}

impl Shape {
    fn scan(text: &str, start: usize) -> Shape {
        let bytes = text.as_bytes();
        let digit_at = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_digit);
        let (mut end, mut decimals, mut in_fraction, mut grouped) = (start, 0, false, false);
        while let Some(&c) = bytes.get(end) {
            if c.is_ascii_digit() {
                decimals += i32::from(in_fraction);
                end += 1;
            } else if c == b','
                && !in_fraction
                && (grouped || end - start <= 3)
                && (1..4).all(|k| digit_at(end + k))
                && !digit_at(end + 4)
            {
                grouped = true;
                end += 4;
            } else if c == b'.' && !in_fraction && digit_at(end + 1) {
                in_fraction = true;
                end += 1;
            } else {
                break;
            }
        }
        let mut dotted = false;
        while in_fraction && bytes.get(end) == Some(&b'.') && digit_at(end + 1) {
            dotted = true;
            end += 1 + bytes[end + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        }
        let mut exponent = 0;
        if !dotted && matches!(bytes.get(end), Some(b'e' | b'E')) {
            let sign = usize::from(matches!(bytes.get(end + 1), Some(b'+' | b'-')));
            let digits =
                bytes.get(end + 1 + sign..).unwrap_or_default().iter().take_while(|c| c.is_ascii_digit()).count();
            if digits > 0 {
                exponent = text.get(end + 1..end + 1 + sign + digits).and_then(|e| e.parse().ok()).unwrap_or(0);
                end += 1 + sign + digits;
            }
        }
        Shape { end, decimals, exponent, dotted }
    }

    /// The number `text[start..self.end]` is, with how precisely it is written and whether it is a quantity.
    fn number<'a>(&self, text: &'a str, start: usize) -> Option<Number<'a>> {
        if self.dotted {
            return None; // a version, never questioned
        }
        let bytes = text.as_bytes();
        let written = text.get(start..self.end)?;
        let value = written.replace(',', "").parse::<f64>().ok().filter(|v| v.is_finite())?;
        let negative =
            start > 0 && bytes[start - 1] == b'-' && (start == 1 || !bytes[start - 2].is_ascii_alphanumeric());
        // Trailing zeros of a whole number are rounding ("about 43,000"), if it has other digits.
        let digits: Vec<u8> = written.bytes().filter(u8::is_ascii_digit).collect();
        let zeros = digits.iter().rev().take_while(|c| **c == b'0').count();
        let zeros =
            if self.decimals == 0 && self.exponent == 0 && zeros >= 2 && zeros < digits.len() { zeros } else { 0 };
        let zeros = i32::try_from(zeros).unwrap_or(0);
        let mut tolerance = 0.5 * 10f64.powi((self.exponent - self.decimals + zeros).clamp(-300, 300));
        let mut value = if negative { -value } else { value };
        let rest = &text[self.end..];
        if let Some(unit) = scale_after(rest) {
            value *= unit;
            tolerance *= unit;
        }
        let before = text[..start].trim_end();
        let versioned = ["Python", "python", "version", "Version"].iter().any(|w| before.ends_with(w));
        let line_start = text[..start].rsplit('\n').next().is_some_and(|l| l.trim().is_empty());
        let marker = line_start && (rest.starts_with(". ") || rest.starts_with(')'));
        Some(Number { text: written, value, tolerance, percent: rest.starts_with('%'), exempt: versioned || marker })
    }
}

/// The factor of a scale word that follows a number after a space ("million"), if one does.
fn scale_after(rest: &str) -> Option<f64> {
    let word = rest.strip_prefix(' ')?.trim_start().split(|c: char| !c.is_ascii_alphabetic()).next()?;
    SCALES.iter().find(|(name, _)| word.eq_ignore_ascii_case(name)).map(|(_, factor)| *factor)
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
        let found: Vec<(String, f64)> =
            numbers("Total 42,925 and 1.414; -3, x2 utf8 0x1F 1.2e+30 8,4 12.5% 2024-12-25 2023,150")
                .map(|n| (n.text.to_owned(), n.value))
                .collect();
        let expected = [
            ("42,925", 42925.0),
            ("1.414", 1.414),
            ("3", -3.0),
            ("1.2e+30", 1.2e30),
            ("8", 8.0),
            ("4", 4.0),
            ("12.5", 12.5),
            ("2024", 2024.0),
            ("12", 12.0),
            ("25", 25.0),
            ("2023", 2023.0),
            ("150", 150.0),
        ];
        let expected: Vec<(String, f64)> = expected.iter().map(|(t, v)| ((*t).to_owned(), *v)).collect();
        assert_eq!(found, expected);
        let tolerance = |text: &str| numbers(text).next().map(|n| n.tolerance);
        assert_eq!(tolerance("1.41"), Some(0.005));
        assert_eq!(tolerance("about 43,000"), Some(500.0));
        assert_eq!(tolerance("1.8 million"), Some(50_000.0));
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
    fn rounding_percentages_scales_and_what_is_not_a_quantity_are_grounded() {
        let seen = evidence(&[
            "What is 2**100?",
            "1.4142135623730951\n",
            "0.125\n",
            "153.0\n",
            "1267650600228229401496703205376\n",
            "2.675\n",
            "6.02214076e+23\n",
            "42925\n",
        ]);
        for answer in [
            "The square root of 2 is 1.414.",
            "About 1.41, or 1.4142135623730951 exactly.",
            "It is 12.5% of the total.",
            "The mean is 153 (153.00 rounded).",
            "2**100 is 1267650600228229401496703205376, about 1.27e30.",
            "There are 3 rows and 7 columns.",
            "It rounds to 2.68.",
            "Avogadro's number is 6.02e23.",
            "About 43,000 in all.",
            "As of 2024, with Python 3.11 and numpy 1.26.4:\n11. the last item",
        ] {
            assert_eq!(seen.ungrounded(answer), None, "{answer}");
        }
        let money = evidence(&["1834567.0\n", "12345678\n"]);
        assert_eq!(money.ungrounded("Sales were 1.83 million, then 12 million."), None);
        assert_eq!(money.ungrounded("Sales were 1.9 million."), Some("1.9"));
        assert_eq!(seen.ungrounded("The answer is 98.3."), Some("98.3"));
        let days = evidence(&["datetime.timedelta(days=-359)"]);
        assert_eq!(days.ungrounded("There are 359 days between them."), None);
        let rows = evidence(&["year,sales\n2023,150,300\n"]);
        assert_eq!(rows.ungrounded("In 2023, sales were 150 and then 300."), None);
        assert_eq!(rows.ungrounded("Sales were 2023150300."), Some("2023150300"));
    }

    #[test]
    fn the_newest_numbers_are_kept() {
        let mut seen = Evidence::default();
        let flood: String = (0..MAX_EVIDENCE + 100).map(|i| format!("{} ", 100_000 + i)).collect();
        seen.add("77777");
        seen.add(&flood);
        seen.add("42925");
        assert_eq!(seen.ungrounded("It is 42925."), None, "the result after a long printout counts");
        assert_eq!(seen.ungrounded("It is 77777."), Some("77777"), "the oldest went");
    }

    proptest! {
        #[test]
        fn any_text_is_read_without_panicking(text in ".{0,200}", printed in "[0-9.,e%+ a-z-]{0,40}") {
            let seen = evidence(&[&printed]);
            let _ = seen.ungrounded(&text);
            for n in numbers(&text) {
                prop_assert!(n.value.is_finite());
                prop_assert!(n.tolerance >= 0.0);
                prop_assert!(text.contains(n.text));
            }
        }
    }
}
