//! A model call caught in a loop: small models at temperature 0 sometimes write the same stretch of text
//! (or of a tool call's arguments) again and again until `max_tokens` stops them. Measured: the 0.5B model
//! asked to write a CSV and send it wrote 2,048 tokens of one repeated stretch, twice, and the turn ended at
//! its 300 s limit. [`LoopWatch`] sees such a call as it streams, so the turn stops it within seconds.

use super::{TurnFailure, TurnFailureKind};

/// How many of the last characters must repeat with one period for the output to count as a loop: long
/// enough that an answer quoting a repeated line of output (a greeting printed fifty times) is not one.
pub const LOOP_WINDOW: usize = 1200;

/// The longest repeated stretch (in characters) recognised: a loop of this length repeats at least
/// `LOOP_WINDOW / LOOP_MAX_PERIOD` times within the window.
pub const LOOP_MAX_PERIOD: usize = 200;

/// How many new characters arrive between two checks (a check reads the whole window).
const CHECK_EVERY: usize = 64;

/// Watches the output of one model call, fragment by fragment.
#[derive(Debug, Clone, Default)]
pub struct LoopWatch {
    /// The last characters written (at most [`LOOP_WINDOW`]).
    tail: Vec<char>,
    /// Characters written since the last check.
    unchecked: usize,
}

impl LoopWatch {
    /// A watch for a new model call.
    pub fn new() -> LoopWatch {
        LoopWatch::default()
    }

    /// Adds a fragment of the call's output; `true` once the last [`LOOP_WINDOW`] characters are one stretch
    /// of at most [`LOOP_MAX_PERIOD`] characters repeated.
    pub fn push(&mut self, fragment: &str) -> bool {
        self.tail.extend(fragment.chars());
        if self.tail.len() > LOOP_WINDOW {
            let excess = self.tail.len() - LOOP_WINDOW;
            self.tail.drain(..excess);
        }
        self.unchecked += fragment.chars().count();
        if self.tail.len() < LOOP_WINDOW || self.unchecked < CHECK_EVERY {
            return false;
        }
        self.unchecked = 0;
        periodic(&self.tail)
    }
}

/// What the person is told when a run stopped in a loop, before any tool ran, is started again (once a turn,
/// sampled instead of greedy).
pub const RESTARTED: &str = "The model began writing the same thing over and over; it was stopped and asked again.";

/// The failure of a turn whose model call was stopped in a loop.
pub fn failure() -> TurnFailure {
    TurnFailure {
        kind: TurnFailureKind::Looping,
        message: "The model began writing the same thing over and over, so it was stopped. The steps above show \
                  what ran; try again, or rephrase the request (a smaller step helps small models)."
            .to_owned(),
    }
}

/// Whether `chars` repeats with some period of at most [`LOOP_MAX_PERIOD`]: every character equals the one
/// a period later.
fn periodic(chars: &[char]) -> bool {
    (1..=LOOP_MAX_PERIOD.min(chars.len() / 2)).any(|period| chars.iter().zip(&chars[period..]).all(|(a, b)| a == b))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn fed(text: &str, fragment: usize) -> bool {
        let mut watch = LoopWatch::new();
        let chars: Vec<char> = text.chars().collect();
        chars.chunks(fragment).any(|chunk| watch.push(&chunk.iter().collect::<String>()))
    }

    #[test]
    fn a_repeated_stretch_is_a_loop() {
        let csv_rows = format!(
            "import pandas as pd\ndf = pd.DataFrame({{'n': range(1, 11)}})\n{}",
            "df.to_csv('/mnt/data/squares.csv', index=False)\n".repeat(40)
        );
        assert!(fed(&csv_rows, 3));
        assert!(fed(&"0".repeat(1300), 1), "one character");
        let long_unit: String = (0..150).map(|i| char::from(b'a' + (i % 26) as u8)).collect::<String>() + "!\n";
        assert!(fed(&long_unit.repeat(10), 7), "a stretch of 152 characters");
    }

    #[test]
    fn ordinary_output_is_not() {
        let rows: String = (1..=200).map(|n| format!("{n},{}\n", n * n)).collect();
        assert!(!fed(&rows, 4), "counting rows differ");
        let code = "import math\nfor i in range(10):\n    print(i, math.sqrt(i))\n".repeat(2);
        assert!(!fed(&code, 5), "too short to judge");
        let quoted = format!("The code printed:\n{}", "Hello, World!\n".repeat(50));
        assert!(!fed(&quoted, 6), "an answer quoting fifty printed lines");
        let unit: String = (0..260).map(|i| char::from(b'a' + (i % 23) as u8)).collect::<String>();
        let three_blocks = format!("{unit}x{unit}y{unit}z{unit}w{unit}");
        assert!(!fed(&three_blocks, 9), "a stretch longer than the longest period, with changes");
    }

    proptest! {
        #[test]
        fn never_panics(fragments in proptest::collection::vec(".{0,40}", 0..60)) {
            let mut watch = LoopWatch::new();
            for fragment in &fragments {
                let _ = watch.push(fragment);
            }
        }
    }
}
