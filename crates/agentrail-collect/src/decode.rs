//! Splitting an input document into records.
//!
//! Shippers and files hand agentrail many shapes: NDJSON (one record a line),
//! a JSON array, one pretty-printed document or several in a row, a CloudTrail
//! `{"Records": [...]}` file, an Azure `{"records": [...]}` export, a REST API
//! list page (`{"data": [...], "links": …}`), an OTLP/JSON logs request, or NDJSON whose lines
//! are themselves such envelopes (CloudTrail via a shipper, the OpenTelemetry
//! Collector's file exporter), or syslog lines (`<PRI>…`, see [`crate::syslog`]),
//! mixed with JSON lines or not. Every record comes out with its position; a bad
//! line is rejected alone and the lines after it are still read.

use std::borrow::Cow;
use std::fmt;

use serde_json::error::Category;

use crate::json::Json;
use crate::otlp;
use crate::syslog::{self, SyslogProblem};

/// Where a record was in its input: a line (1-based) and, inside an
/// envelope or array on that line, the record's number (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub line: usize,
    pub record: Option<usize>,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.record {
            Some(record) => write!(f, "line {}, record {record}", self.line),
            None => write!(f, "line {}", self.line),
        }
    }
}

/// One record, parsed.
#[derive(Debug)]
pub struct DecodedRecord<'a> {
    pub position: Position,
    pub value: Json<'a>,
    /// The record's own text when it stood alone on its line: kept as `raw`
    /// unless redaction changes it, so the stored record is byte-identical.
    pub text: Option<&'a str>,
    /// The source the envelope implies (an OTLP request is `otel`).
    pub implied_source: Option<&'static str>,
}

/// Why a piece of the input is not a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeProblem {
    #[error("invalid JSON at column {column}: {detail}")]
    InvalidJson { column: usize, detail: String },
    #[error("invalid JSON at line {line} column {column}: {detail}; the rest of the document could not be read")]
    InvalidJsonDocument { line: usize, column: usize, detail: String },
    #[error("record is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("expected a JSON object, found {0}")]
    NotAnObject(&'static str),
    #[error("`Records` must be a list of objects")]
    BadRecordsEnvelope,
    #[error(transparent)]
    Syslog(#[from] SyslogProblem),
}

/// A rejected piece of input with its position and raw bytes.
#[derive(Debug, Clone)]
pub struct DecodeRejection<'a> {
    pub position: Position,
    pub problem: DecodeProblem,
    /// The bytes of the bad piece, for quarantine.
    pub raw: Cow<'a, [u8]>,
}

/// Limits applied while decoding.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// The largest record, in bytes, accepted.
    pub max_record_bytes: usize,
    /// Whether an input whose first line is an unfinished object is read as
    /// pretty-printed documents. Off for the later chunks of a stream read
    /// piecewise, where a line is a line.
    pub multi_line_documents: bool,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits { max_record_bytes: 1024 * 1024, multi_line_documents: true }
    }
}

/// Reads every record of `input`, calling `emit` for each record or rejection
/// in input order.
pub fn decode<'a>(
    input: &'a [u8],
    limits: DecodeLimits,
    emit: &mut dyn FnMut(Result<DecodedRecord<'a>, DecodeRejection<'a>>),
) {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let start = input.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(input.len());
    if input.get(start) == Some(&b'[') {
        decode_stream(input, 1, emit);
        return;
    }
    let mut line_number = 0;
    let mut offset = 0;
    let mut first_content = true;
    while offset < input.len() {
        let end = input[offset..].iter().position(|&b| b == b'\n').map_or(input.len(), |i| offset + i);
        line_number += 1;
        let untrimmed = &input[offset..end];
        let line = trim_ascii(untrimmed);
        let indent = untrimmed.len() - untrimmed.trim_ascii_start().len();
        let line_start = offset;
        offset = end + 1;
        if line.is_empty() {
            continue;
        }
        let position = Position { line: line_number, record: None };
        let is_first_content = std::mem::replace(&mut first_content, false);
        if line.len() > limits.max_record_bytes {
            emit(Err(DecodeRejection {
                position,
                problem: DecodeProblem::TooLarge { size: line.len(), limit: limits.max_record_bytes },
                raw: Cow::Borrowed(line),
            }));
            continue;
        }
        if syslog::looks_like_syslog(line) {
            // A syslog line (`<PRI>…`): its header and message as a record.
            emit(syslog::record(line, position));
            continue;
        }
        match Json::parse(line) {
            Ok(value) => {
                // A parsed line is valid UTF-8: JSON outside strings is ASCII.
                let text = std::str::from_utf8(line).ok();
                expand(value, text, line_number, line, emit);
            }
            Err(error)
                if limits.multi_line_documents
                    && is_first_content
                    && error.classify() == Category::Eof
                    && line.first() == Some(&b'{') =>
            {
                // The first object goes on past its line: a pretty-printed
                // document. Read the input as a stream of values.
                decode_stream(&input[line_start..], line_number, emit);
                return;
            }
            Err(error) => emit(Err(DecodeRejection {
                position,
                problem: DecodeProblem::InvalidJson { column: indent + error.column(), detail: strip_position(&error) },
                raw: Cow::Borrowed(line),
            })),
        }
    }
}

/// Reads concatenated JSON values (arrays or pretty-printed objects). On a
/// syntax error the rest cannot be re-synchronised, so it is rejected whole.
fn decode_stream<'a>(
    input: &'a [u8],
    first_line: usize,
    emit: &mut dyn FnMut(Result<DecodedRecord<'a>, DecodeRejection<'a>>),
) {
    let mut stream = serde_json::Deserializer::from_slice(input).into_iter::<Json<'a>>();
    let mut consumed = 0;
    loop {
        let value_start = consumed + input[consumed..].iter().take_while(|b| b.is_ascii_whitespace()).count();
        let line = first_line + count_newlines(&input[..value_start]);
        match stream.next() {
            None => return,
            Some(Ok(Json::Array(items))) => {
                consumed = stream.byte_offset();
                for (index, item) in items.into_iter().enumerate() {
                    let position = Position { line, record: Some(index + 1) };
                    expand_item(item, position, emit);
                }
            }
            Some(Ok(value)) => {
                let raw = trim_ascii(&input[consumed..stream.byte_offset()]);
                consumed = stream.byte_offset();
                expand(value, None, line, raw, emit);
            }
            Some(Err(error)) => {
                let raw = trim_ascii(&input[consumed..]);
                emit(Err(DecodeRejection {
                    position: Position { line, record: None },
                    problem: DecodeProblem::InvalidJsonDocument {
                        line: first_line + error.line().saturating_sub(1),
                        column: error.column(),
                        detail: strip_position(&error),
                    },
                    raw: Cow::Borrowed(raw),
                }));
                return;
            }
        }
    }
}

/// One element of a JSON array: a record, or an envelope of records.
fn expand_item<'a>(
    item: Json<'a>,
    position: Position,
    emit: &mut dyn FnMut(Result<DecodedRecord<'a>, DecodeRejection<'a>>),
) {
    match item {
        Json::Object(_) => emit(Ok(DecodedRecord { position, value: item, text: None, implied_source: None })),
        other => emit(Err(DecodeRejection {
            position,
            problem: DecodeProblem::NotAnObject(other.type_name()),
            raw: Cow::Owned(other.to_json_string().into_bytes()),
        })),
    }
}

/// A whole parsed document on a line: a record, or an envelope.
fn expand<'a>(
    mut value: Json<'a>,
    text: Option<&'a str>,
    line: usize,
    raw: &'a [u8],
    emit: &mut dyn FnMut(Result<DecodedRecord<'a>, DecodeRejection<'a>>),
) {
    let position = Position { line, record: None };
    if otlp::is_logs_request(&value) {
        let mut index = 0;
        otlp::flatten_logs_request(&value, |record| {
            index += 1;
            let position = Position { line, record: Some(index) };
            emit(Ok(DecodedRecord { position, value: record, text: None, implied_source: Some("otel") }));
        });
        return;
    }
    if value.get("Records").is_some_and(Json::is_array) {
        let Some(Json::Array(records)) = value.take("Records") else { return };
        for (index, record) in records.into_iter().enumerate() {
            let position = Position { line, record: Some(index + 1) };
            match record {
                Json::Object(_) => {
                    emit(Ok(DecodedRecord { position, value: record, text: None, implied_source: None }))
                }
                other => emit(Err(DecodeRejection {
                    position,
                    problem: DecodeProblem::BadRecordsEnvelope,
                    raw: Cow::Owned(other.to_json_string().into_bytes()),
                })),
            }
        }
        return;
    }
    // The Kubernetes audit webhook backend posts an EventList.
    if value.get("kind").and_then(Json::as_str) == Some("EventList") && value.get("items").is_some_and(Json::is_array) {
        let Some(Json::Array(items)) = value.take("items") else { return };
        for (index, item) in items.into_iter().enumerate() {
            expand_item(item, Position { line, record: Some(index + 1) }, emit);
        }
        return;
    }
    if let Some(list) = page_envelope(&value)
        && let Some(Json::Array(items)) = value.take(list)
    {
        for (index, item) in items.into_iter().enumerate() {
            expand_item(item, Position { line, record: Some(index + 1) }, emit);
        }
        return;
    }
    match value {
        Json::Object(_) => emit(Ok(DecodedRecord { position, value, text, implied_source: None })),
        Json::Array(items) => {
            for (index, item) in items.into_iter().enumerate() {
                expand_item(item, Position { line, record: Some(index + 1) }, emit);
            }
        }
        other => emit(Err(DecodeRejection {
            position,
            problem: DecodeProblem::NotAnObject(other.type_name()),
            raw: Cow::Borrowed(raw),
        })),
    }
}

/// Keys of a list page besides its list: pagination, never record fields.
const PAGE_KEYS: &[&str] = &[
    "links",
    "meta",
    "object",
    "first_id",
    "last_id",
    "has_more",
    "pagination",
    "next",
    "next_cursor",
    "cursor",
    "next_page",
    "nextPage",
    "total",
    "offset",
    "limit",
    "included",
    "response_metadata",
];

/// The key of the list when `value` is an export or API page: Azure's
/// diagnostic exports (`{"records": [...]}`), and REST list pages with only
/// pagination beside the list: `data` (Datadog, OpenAI, HCP Terraform,
/// Atlassian), `records` (Jira, PagerDuty), `entries` (Slack). A record that merely has a `data` field has other
/// keys too, and stays a record.
fn page_envelope(value: &Json<'_>) -> Option<&'static str> {
    let Json::Object(pairs) = value else { return None };
    let mut list = None;
    // One pass that ends at the first key a page does not have: on the hot
    // path, a record's first key already says it is no page.
    for (key, item) in pairs {
        if let Some(name) = ["records", "data", "entries"].into_iter().find(|name| key == name) {
            let objects = item.as_array().is_some_and(|items| items.iter().all(|i| matches!(i, Json::Object(_))));
            if !objects || list.is_some_and(|found| found != name) {
                return None;
            }
            list = Some(name);
        } else if !PAGE_KEYS.contains(&key.as_ref()) {
            return None;
        }
    }
    list
}

fn trim_ascii(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

fn count_newlines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// serde_json's message without its trailing "at line L column C", which
/// the rejection says itself in the input's own numbering.
fn strip_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str) -> Vec<String> {
        let mut out = Vec::new();
        decode(input.as_bytes(), DecodeLimits { max_record_bytes: 64, multi_line_documents: true }, &mut |r| {
            out.push(match r {
                Ok(rec) => {
                    let text = if rec.text.is_some() { " +text" } else { "" };
                    format!("{} ok {}{text}", rec.position, rec.value.to_json_string())
                }
                Err(rej) => format!("{} err {}", rej.position, rej.problem),
            })
        });
        out
    }

    #[test]
    fn ndjson_with_bad_and_blank_lines() {
        assert_eq!(
            run("{\"a\":1}\n\n  {\"a\":\n{\"b\":2}\r\n[1]\n\"x\"\n"),
            vec![
                "line 1 ok {\"a\":1} +text",
                "line 3 err invalid JSON at column 7: EOF while parsing a value",
                "line 4 ok {\"b\":2} +text",
                "line 5, record 1 err expected a JSON object, found a number",
                "line 6 err expected a JSON object, found a string",
            ]
        );
    }

    #[test]
    fn export_and_api_pages_are_opened_and_records_with_a_data_field_are_not() {
        assert_eq!(
            run("{\"records\":[{\"x\":1}]}\n{\"data\":[{\"y\":2}],\"has_more\":false}"),
            vec!["line 1, record 1 ok {\"x\":1}", "line 2, record 1 ok {\"y\":2}"]
        );
        assert_eq!(
            run("{\"data\":[{\"y\":2}],\"id\":\"r-1\"}"),
            vec!["line 1 ok {\"data\":[{\"y\":2}],\"id\":\"r-1\"} +text"]
        );
        assert_eq!(run("{\"data\":[1,2]}"), vec!["line 1 ok {\"data\":[1,2]} +text"]);
    }

    #[test]
    fn syslog_lines_mix_with_json_lines() {
        let out = run("<13>1 - h app - - - hi\n{\"a\":1}\n<999>bad");
        assert_eq!(out.len(), 3);
        assert!(
            out[0].starts_with("line 1 ok {\"syslog\":{") && out[0].ends_with("\"message\":\"hi\"} +text"),
            "{}",
            out[0]
        );
        assert_eq!(out[1], "line 2 ok {\"a\":1} +text");
        assert_eq!(out[2], "line 3 err syslog: the priority must be <0> to <191>");
    }

    #[test]
    fn arrays_records_and_pretty_documents() {
        assert_eq!(
            run(" [{\"a\":1}, 2]"),
            vec!["line 1, record 1 ok {\"a\":1}", "line 1, record 2 err expected a JSON object, found a number"]
        );
        assert_eq!(
            run("{\"Records\":[{\"x\":1},{\"y\":2}]}"),
            vec!["line 1, record 1 ok {\"x\":1}", "line 1, record 2 ok {\"y\":2}"]
        );
        assert_eq!(run("{\n \"a\": 1\n}\n{\n \"b\": 2\n}"), vec!["line 1 ok {\"a\":1}", "line 4 ok {\"b\":2}"]);
        assert_eq!(
            run("{\n \"a\": 1\n}\n{\n \"b\": \n"),
            vec![
                "line 1 ok {\"a\":1}",
                "line 4 err invalid JSON at line 6 column 0: EOF while parsing a value; the rest of the document could not be read"
            ]
        );
    }

    #[test]
    fn oversized_and_invalid_utf8_lines() {
        let long = format!("{{\"a\":\"{}\"}}", "x".repeat(100));
        assert_eq!(run(&long), vec!["line 1 err record is 108 bytes, over the limit of 64 bytes"]);
        let mut out = Vec::new();
        decode(b"{\"a\":\"\xff\"}\n{\"b\":1}", DecodeLimits::default(), &mut |r| out.push(r.is_ok()));
        assert_eq!(out, vec![false, true]);
    }
}
