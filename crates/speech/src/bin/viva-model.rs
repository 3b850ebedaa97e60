//! `viva-model prepare [DIR]`: fetches, verifies and converts the offline speech model (with a
//! progress line); `viva-model convert MODEL.bin VOCABULARY.txt OUT.bin`: converts a
//! CTranslate2 Whisper model you already have; `viva-model path`: where Viva looks for it.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use viva_speech::model::{self, Progress};

const USAGE: &str = "usage: viva-model prepare [DIR] | viva-model convert MODEL.bin VOCABULARY.txt OUT.bin | viva-model path";

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("path") => {
            println!("{}", model::default_model_path().display());
            Ok(())
        }
        Some("prepare") => {
            let dir = args.get(1).map_or_else(model::model_dir, PathBuf::from);
            // A live progress line on a terminal; in a log, a line every 25 %.
            let terminal = std::io::stdout().is_terminal();
            let step_pct = if terminal { 1.0 } else { 25.0 };
            let mut last = String::new();
            let path = model::prepare(&dir, |step| {
                let pct = |f: f32| ((f * 100.0 / step_pct).floor() * step_pct) as u32;
                let line = match step {
                    Progress::Downloading { fraction: f } => {
                        format!("downloading {WHEEL} {:>3}%", pct(f))
                    }
                    Progress::Verifying => "verifying the SHA-256".to_owned(),
                    Progress::Converting { fraction: f } => {
                        format!("converting to ggml {:>3}%", pct(f))
                    }
                    Progress::Done => String::new(),
                };
                if line != last && !line.is_empty() {
                    if terminal {
                        print!("\r{line:<60}");
                    } else {
                        println!("{line}");
                    }
                    let _ = std::io::stdout().flush();
                    last = line;
                }
            })
            .map_err(|e| e.to_string())?;
            let start = if terminal { "\r" } else { "" };
            println!(
                "{start}offline speech model ready: {}{:<20}",
                path.display(),
                ""
            );
            Ok(())
        }
        Some("convert") if args.len() == 4 => {
            let bin = std::fs::read(&args[1]).map_err(|e| format!("{}: {e}", args[1]))?;
            let vocab =
                std::fs::read_to_string(&args[2]).map_err(|e| format!("{}: {e}", args[2]))?;
            model::convert_into(&bin, &vocab, std::path::Path::new(&args[3]), |_| {})
                .map_err(|e| e.to_string())?;
            println!("wrote {}", args[3]);
            Ok(())
        }
        _ => Err(USAGE.to_owned()),
    }
}

const WHEEL: &str = model::WHEEL_REQUIREMENT;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("viva-model: {message}");
            ExitCode::FAILURE
        }
    }
}
