//! Reading input files (or standard input) through the normalizer, in
//! bounded memory: the one reader behind `normalize` and `ingest`.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use agentrail_collect::{Normalizer, Position, Rejection, SourceChoice};
use agentrail_event::Event;
use anyhow::Context;

/// NDJSON is read in chunks of about this size, so a file of any size is
/// processed in bounded memory.
pub const CHUNK_BYTES: usize = 8 * 1024 * 1024;

/// Where normalized records go.
pub trait RecordSink {
    fn event(&mut self, event: Event) -> anyhow::Result<()>;
    /// A rejected record; `position` counts lines from the start of the input.
    fn rejection(&mut self, input: &str, position: Position, rejection: Rejection) -> anyhow::Result<()>;
    /// The end of a chunk: a natural batch boundary.
    fn chunk_done(&mut self, _bytes: usize) -> anyhow::Result<()> {
        Ok(())
    }
}

fn open(path: &Path) -> anyhow::Result<Box<dyn Read>> {
    if path == Path::new("-") {
        Ok(Box::new(io::stdin().lock()))
    } else {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Box::new(file))
    }
}

/// Reads an input in chunks ending at a newline. The first chunk may hold a
/// JSON array or pretty-printed documents, which must be read whole: then
/// the rest of the input is read before decoding.
pub fn read_input(
    normalizer: &Normalizer,
    choice: &SourceChoice,
    path: &Path,
    sink: &mut dyn RecordSink,
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
        let mut failure = None;
        normalizer.normalize_with(&buffer[..cut], limits, choice, &mut |result| {
            if failure.is_some() {
                return;
            }
            let outcome = match result {
                Ok(event) => sink.event(event),
                Err(rejection) => {
                    let mut position = rejection.position;
                    position.line += lines_before;
                    sink.rejection(&name, position, rejection)
                }
            };
            if let Err(error) = outcome {
                failure = Some(error);
            }
        });
        if let Some(error) = failure {
            return Err(error);
        }
        sink.chunk_done(cut)?;
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
