//! `agentrail normalize`: records in, one agent-aware event per line out.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use agentrail_collect::{Limits, Normalizer, Rejection, SourceChoice};
use anyhow::Context;

use crate::cli::NormalizeArgs;
use crate::setup;

/// NDJSON is read in chunks of about this size, so a file of any size
/// normalizes in bounded memory.
const CHUNK_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, Default)]
struct Tally {
    events: u64,
    rejected: u64,
}

pub fn run(args: NormalizeArgs) -> anyhow::Result<ExitCode> {
    let mut limits = Limits::default();
    limits.decode.max_record_bytes = args.max_record_bytes;
    let normalizer = setup::normalizer(&args.mapping, limits)?;
    let choice = SourceChoice::parse(&args.source);
    normalizer.check_choice(&choice).with_context(|| {
        let names: Vec<&str> = normalizer.registry().mappings().iter().map(|m| m.name.as_str()).collect();
        format!("--source takes `auto` or one of: {}", names.join(", "))
    })?;
    let inputs = if args.files.is_empty() { vec![PathBuf::from("-")] } else { args.files.clone() };
    let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
    let mut tally = Tally::default();
    for input in &inputs {
        let result = normalize_input(&normalizer, &choice, input, &mut out, &mut tally);
        match result {
            Err(error) if is_broken_pipe(&error) => return Ok(ExitCode::SUCCESS),
            other => other?,
        }
    }
    match out.flush() {
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        other => other.context("cannot write to standard output")?,
    }
    if tally.rejected > 0 {
        eprintln!("agentrail normalize: {} events, {} records rejected", tally.events, tally.rejected);
        Ok(ExitCode::from(1))
    } else {
        Ok(ExitCode::SUCCESS)
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

fn open(path: &Path) -> anyhow::Result<Box<dyn Read>> {
    if path == Path::new("-") {
        Ok(Box::new(io::stdin().lock()))
    } else {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Box::new(file))
    }
}

/// Reads an input in chunks ending at a newline. The first chunk may hold
/// a JSON array or pretty-printed documents, which must be read whole: then
/// the rest of the input is read before decoding.
fn normalize_input(
    normalizer: &Normalizer,
    choice: &SourceChoice,
    path: &Path,
    out: &mut impl Write,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let name = path.display().to_string();
    let mut reader = open(path)?;
    let mut buffer: Vec<u8> = Vec::with_capacity(CHUNK_BYTES);
    let mut lines_before = 0_usize;
    let mut first = true;
    let mut eof = false;
    while !eof {
        let start = buffer.len();
        buffer.resize(start + CHUNK_BYTES, 0);
        let read = read_full(&mut reader, &mut buffer[start..]).with_context(|| format!("cannot read {name}"))?;
        buffer.truncate(start + read);
        eof = read == 0;
        if first && !eof && needs_whole_input(&buffer) {
            reader.read_to_end(&mut buffer).with_context(|| format!("cannot read {name}"))?;
            eof = true;
        }
        let cut = if eof { buffer.len() } else { buffer.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) };
        if cut == 0 && !eof {
            continue; // One line longer than a chunk: read on.
        }
        let mut limits = normalizer.limits().decode;
        limits.multi_line_documents = first;
        let mut write_error = None;
        normalizer.normalize_with(&buffer[..cut], limits, choice, &mut |result| {
            if write_error.is_some() {
                return;
            }
            match result {
                Ok(event) => {
                    tally.events += 1;
                    let written = serde_json::to_writer(&mut *out, &event)
                        .map_err(io::Error::from)
                        .and_then(|()| out.write_all(b"\n"));
                    if let Err(error) = written {
                        write_error = Some(error);
                    }
                }
                Err(rejection) => {
                    tally.rejected += 1;
                    report(&name, lines_before, &rejection);
                }
            }
        });
        if let Some(error) = write_error {
            return Err(error.into());
        }
        lines_before += buffer[..cut].iter().filter(|&&b| b == b'\n').count();
        buffer.drain(..cut);
        first = false;
    }
    Ok(())
}

fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// A JSON array, or a first line that is not a whole JSON value.
fn needs_whole_input(buffer: &[u8]) -> bool {
    let trimmed = buffer.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(buffer).trim_ascii_start();
    match trimmed.first() {
        Some(b'[') => true,
        Some(b'{') => {
            let line_end = trimmed.iter().position(|&b| b == b'\n').unwrap_or(trimmed.len());
            serde_json::from_slice::<serde_json::Value>(&trimmed[..line_end]).is_err_and(|e| e.is_eof())
        }
        _ => false,
    }
}

fn report(name: &str, lines_before: usize, rejection: &Rejection) {
    let mut position = rejection.position;
    position.line += lines_before;
    eprintln!("{name}:{position}: rejected: {}", rejection.reason);
}
