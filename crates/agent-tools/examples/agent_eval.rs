//! The agent eval: data tasks with checked answers, run by a real model through the agent against an
//! embedded emulator, printing the success and latency of each task and the success rate.
//!
//! ```text
//! cargo run --release -p dynamic-sessions-agent-tools --example agent_eval -- \
//!     --base-url http://127.0.0.1:8080/v1 [--model NAME] [--mode turn|baseline] [--task NAME]... [--json FILE]
//! ```
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

type Check = fn(&Seen) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + '_>>;

struct Task {
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

fn tasks() -> Vec<Task> {
    vec![
        Task {
            name: "power",
            prompt: "What is 2**100? Use Python.",
            files: &[],
            check: |s| Box::pin(async move { answer_has(s, "1267650600228229401496703205376") }),
        },
        Task {
            name: "sum-of-squares",
            prompt: "What is the sum of the squares of the integers from 1 to 50? Use Python.",
            files: &[],
            check: |s| Box::pin(async move { answer_has(s, "42925") }),
        },
        Task {
            name: "days-between",
            prompt: "How many days are there from 2024-01-01 to 2024-12-25? Use Python.",
            files: &[],
            check: |s| Box::pin(async move { answer_has(s, "359") }),
        },
        Task {
            name: "median",
            prompt: "Use Python to compute the median of these numbers: 3, 1, 4, 1, 5, 9, 2, 6.",
            files: &[],
            check: |s| Box::pin(async move { answer_has(s, "3.5") }),
        },
        Task {
            name: "csv-total",
            prompt: "The file /mnt/data/sales.csv has monthly sales. What is the total of the sales column?",
            files: &[("sales.csv", SALES)],
            check: |s| Box::pin(async move { answer_has(s, "1836") }),
        },
        Task {
            name: "csv-best-month",
            prompt: "Which month in /mnt/data/sales.csv had the highest sales?",
            files: &[("sales.csv", SALES)],
            check: |s| Box::pin(async move { answer_has(s, "Dec") }),
        },
        Task {
            name: "csv-mean",
            prompt: "What is the mean of the sales column in /mnt/data/sales.csv, rounded to 2 decimals?",
            files: &[("sales.csv", SALES)],
            check: |s| Box::pin(async move { answer_has(s, "153") }),
        },
        Task {
            name: "fix-error",
            prompt: "Run this Python code, and if it fails, fix it and tell me the result: import math; print(math.sqroot(2))",
            files: &[],
            check: |s| Box::pin(async move { answer_has(s, "1.414") }),
        },
        Task {
            name: "csv-separator",
            prompt: "What is the average age in /mnt/data/people.csv?",
            files: &[("people.csv", PEOPLE)],
            check: |s| Box::pin(async move { answer_has(s, "34") }),
        },
        Task {
            name: "word-count",
            prompt: "How many words are in /mnt/data/notes.txt? Count them with Python.",
            files: &[("notes.txt", NOTES)],
            check: |s| Box::pin(async move { answer_has(s, "18") }),
        },
        Task {
            name: "chart",
            prompt: "Plot the sales by month from /mnt/data/sales.csv as a bar chart.",
            files: &[("sales.csv", SALES)],
            check: |s| Box::pin(async move { if s.images > 0 { Ok(()) } else { Err("no chart was drawn".into()) } }),
        },
        Task {
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
            name: "reverse",
            prompt: "Reverse the string 'dynamic sessions' with Python.",
            files: &[],
            check: |s| Box::pin(async move { answer_has(s, "snoisses cimanyd") }),
        },
    ]
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
    for task in tasks().into_iter().filter(|t| args.only.is_empty() || args.only.iter().any(|o| o == t.name)) {
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
            Ok(Ok(seen)) => (task.check)(&seen).await,
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!("no answer within {} s", args.task_seconds)),
        };
        let seconds = started.elapsed().as_secs_f64();
        match &outcome {
            Ok(()) => println!("  PASS {:<18} {seconds:>6.1} s", task.name),
            Err(why) => println!("  FAIL {:<18} {seconds:>6.1} s  {}", task.name, excerpt(why)),
        }
        results.push((task.name, outcome.is_ok(), seconds));
        let _ = interpreter.session().delete().await;
    }
    let passed = results.iter().filter(|r| r.1).count();
    let mut latencies: Vec<f64> = results.iter().map(|r| r.2).collect();
    latencies.sort_by(f64::total_cmp);
    let median = latencies.get(latencies.len() / 2).copied().unwrap_or_default();
    println!("{passed}/{} tasks passed; median {median:.1} s per task", results.len());
    if let Some(path) = &args.json {
        let rows: Vec<serde_json::Value> =
            results.iter().map(|(name, ok, s)| serde_json::json!({"task": name, "passed": ok, "seconds": s})).collect();
        std::fs::write(
            path,
            serde_json::to_string_pretty(&serde_json::json!({"mode": mode, "model": args.model, "tasks": rows}))?,
        )?;
    }
    emulator.stop().await;
    Ok(())
}
