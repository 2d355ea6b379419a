//! The agent eval: data tasks with checked answers, run by a real model through the agent against an
//! embedded emulator, printing the success and latency of each task and the success rate.
//!
//! ```text
//! cargo run --release -p dynamic-sessions-agent-tools --example agent_eval -- \
//!     --base-url http://127.0.0.1:8080/v1 [--model NAME] [--mode turn|baseline] [--set dev|held-out|all]
//!     [--task NAME]... [--json FILE]
//! ```
//!
//! Two sets: `dev`, the tasks the agent's prompts and repairs were developed on, and `held-out`, written before
//! the changes they measure and never tuned for. An answer that shows tool-call syntax fails in both.
//!
//! * `--mode turn` (default): `ChatAgent` with its defaults for the model (an OpenAI-compatible server of
//!   your own gets `required-first`; `MODEL_TOOL_CHOICE` and the other turn variables apply).
//! * `--mode baseline`: how the agent ran before the real-model work: a plain rig agent, no tool choice, no
//!   `max_tokens`, JSON reports, calls written as text shown as the answer. For before/after numbers.
//!
//! Every task gets a fresh session (and its input files), a wall-clock budget (`--task-seconds`, default 300),
//! and a check of the answer, the session's files or the artifacts. Any OpenAI-compatible endpoint works:
//! `OPENAI_API_KEY` is sent when set.

use std::time::{Duration, Instant};

use dynamic_sessions::{Auth, SessionId, SessionPoolClient};
use dynamic_sessions_agent_tools::rig::{ChatAgent, History, ModelConfig, agent_builder};
use dynamic_sessions_agent_tools::turn::{TurnEvent, TurnOptions};
use dynamic_sessions_agent_tools::{Artifact, CodeInterpreter, InterpreterOptions, ReportFormat};
use dynamic_sessions_emulator::testing::TestEmulator;
use futures_util::StreamExt;

/// What a task's check sees.
struct Seen {
    answer: String,
    images: usize,
    files_offered: Vec<String>,
    interpreter: CodeInterpreter,
}

impl Seen {
    /// Counts the images drawn and the files offered.
    fn note(&mut self, artifacts: Vec<Artifact>) {
        for artifact in artifacts {
            match artifact {
                Artifact::Image { .. } => self.images += 1,
                Artifact::File { path, .. } => self.files_offered.push(path),
                _ => {}
            }
        }
    }
}

/// The two task sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Set {
    Dev,
    HeldOut,
}

type Check = fn(&Seen) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + '_>>;

struct Task {
    /// Which set: the development set the agent's prompts and repairs may be tuned on, or the held-out set,
    /// written before the changes it measures, that nothing is ever tuned for.
    set: Set,
    name: &'static str,
    prompt: &'static str,
    files: &'static [(&'static str, &'static str)],
    check: Check,
}

const SALES: &str = "month,sales\nJan,120\nFeb,95\nMar,143\nApr,160\nMay,151\nJun,170\nJul,188\nAug,176\nSep,140\nOct,133\nNov,150\nDec,210\n";
const PEOPLE: &str = "Name;Age;City\nAna;34;Lisbon\nBen;28;Oslo\nCleo;45;Lima\nDan;39;Kyiv\nEve;24;Rome\n";
const NOTES: &str =
    "The quick brown fox jumps over the lazy dog.\nSessions keep state between runs.\nFiles live in /mnt/data.\n";

fn answer_has(seen: &Seen, needle: &str) -> Result<(), String> {
    let flat = seen.answer.replace([',', '\u{a0}'], "");
    if flat.contains(needle) {
        Ok(())
    } else {
        Err(format!("the answer does not contain {needle:?}: {:?}", excerpt(&seen.answer)))
    }
}

fn excerpt(text: &str) -> String {
    let text: String = text.chars().take(160).collect();
    text.replace('\n', " ")
}

/// Files of the held-out tasks.
const EMPLOYEES: &str = "name,department,salary\nAsha,Engineering,95000\nBo,Sales,60000\nCy,Support,50000\nDee,Engineering,101000\nEli,Support,52000\nFay,Sales,64000\nGus,Support,54000\n";
const ORDERS: &str = "id,status,amount\n1,shipped,120.5\n2,pending,300\n3,shipped,80\n4,shipped,150\n5,cancelled,500\n6,shipped,101\n7,pending,99\n8,shipped,100\n";
const PRICES: &str = "product;price\nTea;1,50\nCoffee;2,25\nCake;3,75\nWater;0,90\n";
const CITIES: &str = r#"[{"name": "Porto", "population": 231800}, {"name": "Braga", "population": 193300}, {"name": "Lisbon", "population": 545900}, {"name": "Coimbra", "population": 140800}]"#;
const AGES: &str = "age\n23\n35\n31\n47\n52\n29\n41\n38\n60\n27\n33\n45\n";
const NAMES: &str = "Zoe\nadam\nMia\nLiam\nEmma\nnoah\n";
const TEMPS: &str = "day,temp\nMon,14.2\nTue,15.8\nWed,13.1\nThu,17.4\nFri,18.0\nSat,16.5\nSun,12.9\n";

fn any_of(seen: &Seen, needles: &[&str]) -> Result<(), String> {
    let flat = seen.answer.replace([',', '\u{a0}'], "");
    if needles.iter().any(|n| flat.contains(n)) {
        Ok(())
    } else {
        Err(format!("the answer has none of {needles:?}: {:?}", excerpt(&seen.answer)))
    }
}

/// The session file `name`, or why it is not there.
async fn session_file(seen: &Seen, name: &str) -> Result<Vec<u8>, String> {
    let download = seen.interpreter.session().files().download(name).await.map_err(|e| format!("no {name}: {e}"))?;
    Ok(download.bytes().await.map_err(|e| e.to_string())?.to_vec())
}

/// The held-out set: written before the changes it measures (issue 25), never tuned for.
fn held_out() -> Vec<Task> {
    vec![
        Task {
            set: Set::HeldOut,
            name: "primes-below",
            prompt: "How many prime numbers are there below 10000?",
            files: &[],
            check: |s| Box::pin(async move { answer_has(s, "1229") }),
        },
        Task {
            set: Set::HeldOut,
            name: "weekday",
            prompt: "On which day of the week did 14 July 1789 fall?",
            files: &[],
            check: |s| Box::pin(async move { answer_has(s, "Tuesday") }),
        },
        Task {
            set: Set::HeldOut,
            name: "group-average",
            prompt: "In /mnt/data/employees.csv, which department has the highest average salary, and what is that average?",
            files: &[("employees.csv", EMPLOYEES)],
            check: |s| Box::pin(async move { answer_has(s, "Engineering").and_then(|()| answer_has(s, "98000")) }),
        },
        Task {
            set: Set::HeldOut,
            name: "filter-count",
            prompt: "How many orders in /mnt/data/orders.csv are shipped and have an amount above 100?",
            files: &[("orders.csv", ORDERS)],
            check: |s| Box::pin(async move { any_of(s, &["3 orders", " 3 ", "is 3", "are 3", "3."]) }),
        },
        Task {
            set: Set::HeldOut,
            name: "decimal-commas",
            prompt: "What is the sum of the prices in /mnt/data/prices.csv?",
            files: &[("prices.csv", PRICES)],
            check: |s| Box::pin(async move { any_of(s, &["8.4", "84"]) }),
        },
        Task {
            set: Set::HeldOut,
            name: "json-input",
            prompt: "Which city in /mnt/data/cities.json has the largest population?",
            files: &[("cities.json", CITIES)],
            check: |s| Box::pin(async move { answer_has(s, "Lisbon") }),
        },
        Task {
            set: Set::HeldOut,
            name: "sample-std",
            prompt: "What is the sample standard deviation (dividing by n - 1) of 2, 4, 4, 4, 5, 5, 7, 9? Round to 3 decimals.",
            files: &[],
            check: |s| Box::pin(async move { answer_has(s, "2.138") }),
        },
        Task {
            set: Set::HeldOut,
            name: "compound-interest",
            prompt: "I invest 1000 euros at 5% a year, compounded yearly. What is it worth after 10 years, to the cent?",
            files: &[],
            check: |s| Box::pin(async move { answer_has(s, "1628.89") }),
        },
        Task {
            set: Set::HeldOut,
            name: "histogram-file",
            prompt: "Draw a histogram of the ages in /mnt/data/ages.csv and save it as /mnt/data/ages.png.",
            files: &[("ages.csv", AGES)],
            check: |s| {
                Box::pin(async move {
                    let png = session_file(s, "ages.png").await?;
                    if png.starts_with(b"\x89PNG") { Ok(()) } else { Err("ages.png is not a PNG".into()) }
                })
            },
        },
        Task {
            set: Set::HeldOut,
            name: "sorted-file",
            prompt: "Sort the names in /mnt/data/names.txt alphabetically, ignoring case, into /mnt/data/sorted.txt and give me that file.",
            files: &[("names.txt", NAMES)],
            check: |s| {
                Box::pin(async move {
                    let text = String::from_utf8_lossy(&session_file(s, "sorted.txt").await?).into_owned();
                    let names: Vec<&str> = text.split_whitespace().collect();
                    if names != ["adam", "Emma", "Liam", "Mia", "noah", "Zoe"] {
                        return Err(format!("sorted.txt is {names:?}"));
                    }
                    if s.files_offered.iter().any(|p| p.ends_with("sorted.txt")) {
                        Ok(())
                    } else {
                        Err("sorted.txt was made but not sent to the user".into())
                    }
                })
            },
        },
        Task {
            set: Set::HeldOut,
            name: "line-chart",
            prompt: "Show the temperatures in /mnt/data/temps.csv as a line chart by day.",
            files: &[("temps.csv", TEMPS)],
            check: |s| Box::pin(async move { if s.images > 0 { Ok(()) } else { Err("no chart was drawn".into()) } }),
        },
        Task {
            set: Set::HeldOut,
            name: "fahrenheit",
            prompt: "What is 37.5 degrees Celsius in Fahrenheit?",
            files: &[],
            check: |s| Box::pin(async move { answer_has(s, "99.5") }),
        },
    ]
}

/// A person must never see tool-call or tool-result syntax in an answer: such an answer fails whatever it says.
fn readable(seen: &Seen) -> Result<(), String> {
    let answer = &seen.answer;
    let echo = ["[called tool", "[tool ", "<tool_call>", "\"arguments\"", "</tool_call>"];
    match echo.iter().find(|e| answer.contains(*e)) {
        Some(e) => Err(format!("the answer shows tool syntax ({e}): {:?}", excerpt(answer))),
        None => Ok(()),
    }
}

fn tasks() -> Vec<Task> {
    vec![
        Task {
            set: Set::Dev,
            name: "power",
            prompt: "What is 2**100? Use Python.",
            files: &[],
            check: |s| Box::pin(async move { answer_has(s, "1267650600228229401496703205376") }),
        },
        Task {
            set: Set::Dev,
            name: "sum-of-squares",
            prompt: "What is the sum of the squares of the integers from 1 to 50? Use Python.",
            files: &[],
            check: |s| Box::pin(async move { answer_has(s, "42925") }),
        },
        Task {
            set: Set::Dev,
            name: "days-between",
            prompt: "How many days are there from 2024-01-01 to 2024-12-25? Use Python.",
            files: &[],
            check: |s| Box::pin(async move { answer_has(s, "359") }),
        },
        Task {
            set: Set::Dev,
            name: "median",
            prompt: "Use Python to compute the median of these numbers: 3, 1, 4, 1, 5, 9, 2, 6.",
            files: &[],
            check: |s| Box::pin(async move { answer_has(s, "3.5") }),
        },
        Task {
            set: Set::Dev,
            name: "csv-total",
            prompt: "The file /mnt/data/sales.csv has monthly sales. What is the total of the sales column?",
            files: &[("sales.csv", SALES)],
            check: |s| Box::pin(async move { answer_has(s, "1836") }),
        },
        Task {
            set: Set::Dev,
            name: "csv-best-month",
            prompt: "Which month in /mnt/data/sales.csv had the highest sales?",
            files: &[("sales.csv", SALES)],
            check: |s| Box::pin(async move { answer_has(s, "Dec") }),
        },
        Task {
            set: Set::Dev,
            name: "csv-mean",
            prompt: "What is the mean of the sales column in /mnt/data/sales.csv, rounded to 2 decimals?",
            files: &[("sales.csv", SALES)],
            check: |s| Box::pin(async move { answer_has(s, "153") }),
        },
        Task {
            set: Set::Dev,
            name: "fix-error",
            prompt: "Run this Python code, and if it fails, fix it and tell me the result: import math; print(math.sqroot(2))",
            files: &[],
            check: |s| Box::pin(async move { answer_has(s, "1.414") }),
        },
        Task {
            set: Set::Dev,
            name: "csv-separator",
            prompt: "What is the average age in /mnt/data/people.csv?",
            files: &[("people.csv", PEOPLE)],
            check: |s| Box::pin(async move { answer_has(s, "34") }),
        },
        Task {
            set: Set::Dev,
            name: "word-count",
            prompt: "How many words are in /mnt/data/notes.txt? Count them with Python.",
            files: &[("notes.txt", NOTES)],
            check: |s| Box::pin(async move { answer_has(s, "18") }),
        },
        Task {
            set: Set::Dev,
            name: "chart",
            prompt: "Plot the sales by month from /mnt/data/sales.csv as a bar chart.",
            files: &[("sales.csv", SALES)],
            check: |s| Box::pin(async move { if s.images > 0 { Ok(()) } else { Err("no chart was drawn".into()) } }),
        },
        Task {
            set: Set::Dev,
            name: "file-for-user",
            prompt: "Write a CSV file /mnt/data/squares.csv with columns n and square for n from 1 to 10, then send it to me.",
            files: &[],
            check: |s| {
                Box::pin(async move {
                    let bytes = s
                        .interpreter
                        .session()
                        .files()
                        .download("squares.csv")
                        .await
                        .map_err(|e| format!("no squares.csv: {e}"))?
                        .bytes()
                        .await
                        .map_err(|e| e.to_string())?;
                    let text = String::from_utf8_lossy(&bytes);
                    if !text.contains("100") || text.lines().filter(|l| !l.trim().is_empty()).count() < 10 {
                        return Err(format!("squares.csv is wrong: {:?}", excerpt(&text)));
                    }
                    if s.files_offered.iter().any(|p| p.ends_with("squares.csv")) {
                        Ok(())
                    } else {
                        Err("the file was made but not sent to the user".into())
                    }
                })
            },
        },
        Task {
            set: Set::Dev,
            name: "reverse",
            prompt: "Reverse the string 'dynamic sessions' with Python.",
            files: &[],
            check: |s| Box::pin(async move { answer_has(s, "snoisses cimanyd") }),
        },
    ]
    .into_iter()
    .chain(held_out())
    .collect()
}

struct Args {
    base_url: String,
    model: String,
    baseline: bool,
    only: Vec<String>,
    task_seconds: u64,
    json: Option<String>,
    verbose: bool,
    preamble: Option<String>,
    /// The sets to run (default both).
    sets: Vec<Set>,
}

fn args() -> Result<Args, String> {
    let mut out = Args {
        base_url: std::env::var("OPENAI_BASE_URL").unwrap_or_default(),
        model: std::env::var("OPENAI_MODEL").unwrap_or_else(|_| "local".into()),
        baseline: false,
        only: Vec::new(),
        task_seconds: 300,
        json: None,
        verbose: false,
        preamble: None,
        sets: vec![Set::Dev, Set::HeldOut],
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--base-url" => out.base_url = value()?,
            "--model" => out.model = value()?,
            "--mode" => out.baseline = value()? == "baseline",
            "--task" => out.only.push(value()?),
            "--task-seconds" => out.task_seconds = value()?.parse().map_err(|e| format!("--task-seconds: {e}"))?,
            "--json" => out.json = Some(value()?),
            "--verbose" => out.verbose = true,
            "--set" => {
                out.sets = match value()?.as_str() {
                    "dev" => vec![Set::Dev],
                    "held-out" => vec![Set::HeldOut],
                    "all" => vec![Set::Dev, Set::HeldOut],
                    other => return Err(format!("--set {other}: use dev, held-out or all")),
                }
            }
            "--preamble-file" => out.preamble = Some(std::fs::read_to_string(value()?).map_err(|e| e.to_string())?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if out.base_url.is_empty() {
        return Err("give --base-url (an OpenAI-compatible endpoint ending in /v1) or OPENAI_BASE_URL".into());
    }
    Ok(out)
}

/// One task through the typed turn.
async fn run_turn(
    config: &ModelConfig,
    interpreter: &CodeInterpreter,
    prompt: &str,
    args: &Args,
) -> Result<Seen, String> {
    let verbose = args.verbose;
    let options = config.turn_options().map_err(|e| e.to_string())?;
    let mut agent =
        ChatAgent::new(config, interpreter.clone(), TurnOptions { ..options }).map_err(|e| e.to_string())?;
    if let Some(preamble) = &args.preamble {
        agent = agent.with_preamble(preamble.trim());
    }
    let mut history = History::new();
    let mut seen =
        Seen { answer: String::new(), images: 0, files_offered: Vec::new(), interpreter: interpreter.clone() };
    let mut events = Box::pin(agent.turn(&mut history, prompt.to_owned()));
    while let Some(event) = events.next().await {
        if verbose {
            println!("    {event:?}");
        }
        match event {
            TurnEvent::ToolResult(step) => seen.note(step.artifacts),
            TurnEvent::Done { answer } => seen.answer = answer,
            TurnEvent::Failed(failure) => return Err(format!("{:?}: {}", failure.kind, failure.message)),
            _ => {}
        }
    }
    Ok(seen)
}

/// One task the way the agent ran before: rig's own loop, defaults everywhere.
async fn run_baseline(config: &ModelConfig, interpreter: &CodeInterpreter, prompt: &str) -> Result<Seen, String> {
    let model = config.completion_model().map_err(|e| e.to_string())?;
    // The same sampling as the turn mode (MODEL_TEMPERATURE), so the comparison is of the agent alone.
    let mut builder = agent_builder(model, interpreter);
    if let Some(t) = config.turn_options().map_err(|e| e.to_string())?.temperature {
        builder = builder.temperature(t);
    }
    let agent = builder.build();
    let response = agent.prompt(prompt).await.map_err(|e| e.to_string())?;
    let mut seen =
        Seen { answer: response.output(), images: 0, files_offered: Vec::new(), interpreter: interpreter.clone() };
    seen.note(interpreter.take_artifacts());
    Ok(seen)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args()?;
    let Some(emulator) = TestEmulator::start(|c| c.max_sessions = 40).await? else {
        return Err("the emulator cannot run here (see the message above)".into());
    };
    let client = SessionPoolClient::new(emulator.url(), Auth::bearer(emulator.token()))?;
    let config = ModelConfig::OpenAi {
        api_key: std::env::var("OPENAI_API_KEY").ok(),
        model: args.model.clone(),
        base_url: Some(args.base_url.clone()),
    };
    let mode = if args.baseline { "baseline" } else { "turn" };
    println!("agent eval: {} at {} ({mode})", args.model, args.base_url);
    let mut results = Vec::new();
    let chosen =
        |t: &Task| args.sets.contains(&t.set) && (args.only.is_empty() || args.only.iter().any(|o| o == t.name));
    for task in tasks().into_iter().filter(chosen) {
        let format = if args.baseline { ReportFormat::Json } else { ReportFormat::Prose };
        let options = InterpreterOptions { report_format: format, ..InterpreterOptions::default() };
        let interpreter = CodeInterpreter::with_options(client.session(SessionId::random()), options);
        for (name, content) in task.files {
            interpreter.session().files().upload(*name, content.as_bytes().to_vec()).await?;
        }
        let started = Instant::now();
        let run = async {
            if args.baseline {
                run_baseline(&config, &interpreter, task.prompt).await
            } else {
                run_turn(&config, &interpreter, task.prompt, &args).await
            }
        };
        let outcome = match tokio::time::timeout(Duration::from_secs(args.task_seconds), run).await {
            Ok(Ok(seen)) => (task.check)(&seen).await.and_then(|()| readable(&seen)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!("no answer within {} s", args.task_seconds)),
        };
        let seconds = started.elapsed().as_secs_f64();
        match &outcome {
            Ok(()) => println!("  PASS {:<18} {seconds:>6.1} s", task.name),
            Err(why) => println!("  FAIL {:<18} {seconds:>6.1} s  {}", task.name, excerpt(why)),
        }
        results.push((task.set, task.name, outcome.is_ok(), seconds));
        let _ = interpreter.session().delete().await;
    }
    for set in [Set::Dev, Set::HeldOut] {
        let of_set: Vec<_> = results.iter().filter(|r| r.0 == set).collect();
        if of_set.is_empty() {
            continue;
        }
        let passed = of_set.iter().filter(|r| r.2).count();
        let mut latencies: Vec<f64> = of_set.iter().map(|r| r.3).collect();
        latencies.sort_by(f64::total_cmp);
        let median = latencies.get(latencies.len() / 2).copied().unwrap_or_default();
        println!("{set:?}: {passed}/{} tasks passed; median {median:.1} s per task", of_set.len());
    }
    if let Some(path) = &args.json {
        let rows: Vec<serde_json::Value> = results
            .iter()
            .map(|(set, name, ok, s)| serde_json::json!({"set": format!("{set:?}"), "task": name, "passed": ok, "seconds": s}))
            .collect();
        std::fs::write(
            path,
            serde_json::to_string_pretty(&serde_json::json!({"mode": mode, "model": args.model, "tasks": rows}))?,
        )?;
    }
    emulator.stop().await;
    Ok(())
}
