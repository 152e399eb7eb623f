//! Syslog messages as records: RFC 5424 (`<PRI>1 TIMESTAMP HOST APP PROCID
//! MSGID [SD] MSG`) and the BSD format of RFC 3164 (`<PRI>Mmm dd hh:mm:ss
//! HOST TAG[PID]: MSG`), as `logger`, rsyslog, syslog-ng and appliances send
//! them.
//!
//! A message becomes a record with its header under `syslog` (`format`,
//! `facility`, `severity`, `timestamp`, `hostname`, `app_name`, `procid`,
//! `msgid`), its structured data under `syslog.sd.<SD-ID>.<name>` and, for
//! convenience, every parameter also under `syslog.params.<name>` (so a
//! mapping need not know the SD-ID's enterprise number). The text is
//! `message`. A message that is itself a JSON object (Vault's syslog audit
//! device, JSON loggers, `@cee:` cookies) is that object, with `syslog`
//! added: its own mapping detects it, and the header lands in attributes.
//!
//! RFC 3164 timestamps have no year and no zone: the year is the current
//! one (the previous one when that would put the message more than a day
//! ahead), the zone UTC. A message with no timestamp (`-`) gets the time
//! it was read, and says so in `syslog.timestamp_source`.

use std::borrow::Cow;

use agentrail_event::Timestamp;

use crate::decode::{DecodeRejection, DecodedRecord, Position};
use crate::json::{Json, Number};

const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];
const SEVERITIES: [&str; 8] = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"];
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Why a line that looked like syslog is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyslogProblem {
    #[error("syslog: a message starts with its priority, `<0>` to `<191>`")]
    NoPriority,
    #[error("syslog: the priority must be <0> to <191>")]
    Priority,
    #[error("syslog: {0}")]
    Header(&'static str),
    #[error("syslog: structured data: {0}")]
    StructuredData(&'static str),
    #[error("syslog: the message is not UTF-8")]
    NotUtf8,
}

/// Whether `line` starts as a syslog message does (`<` and a digit).
pub fn looks_like_syslog(line: &[u8]) -> bool {
    line.first() == Some(&b'<') && line.get(1).is_some_and(u8::is_ascii_digit)
}

/// One syslog message (a line, or a frame received by `serve`) as a
/// decoded record; its text is kept as the record's `raw`.
pub fn record(frame: &[u8], position: Position) -> Result<DecodedRecord<'_>, DecodeRejection<'_>> {
    let frame = frame.trim_ascii();
    match parse(frame) {
        Ok(value) => Ok(DecodedRecord { position, value, text: std::str::from_utf8(frame).ok(), implied_source: None }),
        Err(problem) => Err(DecodeRejection { position, problem: problem.into(), raw: Cow::Borrowed(frame) }),
    }
}

/// Parses one syslog message (without its framing).
pub fn parse(line: &[u8]) -> Result<Json<'_>, SyslogProblem> {
    parse_at(line, Timestamp::now())
}

/// [`parse`] with the time the message was read (for RFC 3164's missing year
/// and a missing timestamp).
pub fn parse_at(line: &[u8], now: Timestamp) -> Result<Json<'_>, SyslogProblem> {
    let text = std::str::from_utf8(line).map_err(|_| SyslogProblem::NotUtf8)?;
    let rest = text.strip_prefix('<').ok_or(SyslogProblem::NoPriority)?;
    let close = rest.find('>').filter(|&i| (1..=3).contains(&i)).ok_or(SyslogProblem::Priority)?;
    let priority: usize = rest[..close].parse().map_err(|_| SyslogProblem::Priority)?;
    if priority > 191 {
        return Err(SyslogProblem::Priority);
    }
    let rest = &rest[close + 1..];
    let mut header: Vec<(Cow<'_, str>, Json<'_>)> = vec![
        key("facility", text_value(FACILITIES[priority / 8])),
        key("severity", text_value(SEVERITIES[priority % 8])),
        key("priority", Json::Number(Number::Uint(priority as u64))),
    ];
    let message = match rest.strip_prefix("1 ") {
        Some(rest) => rfc5424(rest, now, &mut header)?,
        None => rfc3164(rest, now, &mut header),
    };
    let message = message.trim_start_matches('\u{feff}');
    // A JSON object as the message is the record itself.
    let json_text = message.strip_prefix("@cee:").unwrap_or(message).trim();
    if json_text.starts_with('{')
        && let Ok(Json::Object(mut pairs)) = Json::parse(json_text.as_bytes())
    {
        pairs.push(key("syslog", Json::Object(header)));
        return Ok(Json::Object(pairs));
    }
    Ok(Json::Object(vec![key("syslog", Json::Object(header)), key("message", Json::String(Cow::Borrowed(message)))]))
}

fn key<'a>(name: &'static str, value: Json<'a>) -> (Cow<'a, str>, Json<'a>) {
    (Cow::Borrowed(name), value)
}

fn text_value(text: &str) -> Json<'_> {
    Json::String(Cow::Borrowed(text))
}

/// A header field, `-` being "none".
fn field(text: &str) -> Option<Json<'_>> {
    (text != "-").then(|| text_value(text))
}

/// The header after `<PRI>1 `; returns the message.
fn rfc5424<'a>(
    rest: &'a str,
    now: Timestamp,
    header: &mut Vec<(Cow<'a, str>, Json<'a>)>,
) -> Result<&'a str, SyslogProblem> {
    header.push(key("format", text_value("rfc5424")));
    let mut parts = rest.splitn(6, ' ');
    let mut next = |what: &'static str| parts.next().filter(|p| !p.is_empty()).ok_or(SyslogProblem::Header(what));
    let timestamp = next("no timestamp")?;
    let hostname = next("no hostname")?;
    let app_name = next("no app name")?;
    let procid = next("no process id")?;
    let msgid = next("no message id")?;
    let rest = parts.next().unwrap_or("");
    match field(timestamp) {
        Some(value) => {
            header.push(key("timestamp", value));
            header.push(key("timestamp_source", text_value("message")));
        }
        None => received_at(now, header),
    }
    for (name, value) in [("hostname", hostname), ("app_name", app_name), ("procid", procid), ("msgid", msgid)] {
        if let Some(value) = field(value) {
            header.push(key(name, value));
        }
    }
    let (elements, message) = structured_data(rest)?;
    if !elements.is_empty() {
        let params: Vec<(Cow<'a, str>, Json<'a>)> = elements
            .iter()
            .flat_map(|(_, params)| params.iter().map(|(name, value)| (name.clone(), value.clone())))
            .collect();
        let sd = elements.into_iter().map(|(id, params)| (id, Json::Object(params))).collect();
        header.push(key("sd", Json::Object(sd)));
        header.push(key("params", Json::Object(params)));
    }
    Ok(message)
}

type Element<'a> = (Cow<'a, str>, Vec<(Cow<'a, str>, Json<'a>)>);

/// `-` or `[id name="value" …]…`, then the message after one space.
fn structured_data(rest: &str) -> Result<(Vec<Element<'_>>, &str), SyslogProblem> {
    if let Some(message) = rest.strip_prefix('-') {
        return Ok((Vec::new(), message.strip_prefix(' ').unwrap_or(message)));
    }
    let mut elements = Vec::new();
    let mut rest = rest;
    while let Some(inner) = rest.strip_prefix('[') {
        let id_end = inner.find([' ', ']']).ok_or(SyslogProblem::StructuredData("an element is not closed"))?;
        let id = &inner[..id_end];
        if id.is_empty() {
            return Err(SyslogProblem::StructuredData("an element has no SD-ID"));
        }
        let mut params = Vec::new();
        let mut cursor = &inner[id_end..];
        loop {
            if let Some(after) = cursor.strip_prefix(']') {
                cursor = after;
                break;
            }
            let param = cursor.strip_prefix(' ').ok_or(SyslogProblem::StructuredData("a parameter is malformed"))?;
            let eq = param.find('=').ok_or(SyslogProblem::StructuredData("a parameter has no `=`"))?;
            let name = &param[..eq];
            let value = param[eq + 1..]
                .strip_prefix('"')
                .ok_or(SyslogProblem::StructuredData("a parameter value is not quoted"))?;
            let (value, after) = quoted(value)?;
            params.push((Cow::Borrowed(name), Json::String(value)));
            cursor = after;
        }
        elements.push((Cow::Borrowed(id), params));
        rest = cursor;
    }
    if elements.is_empty() {
        return Err(SyslogProblem::StructuredData("expected `-` or `[`"));
    }
    Ok((elements, rest.strip_prefix(' ').unwrap_or(rest)))
}

/// A parameter value up to its closing quote, with `\"`, `\\` and `\]` unescaped.
fn quoted(text: &str) -> Result<(Cow<'_, str>, &str), SyslogProblem> {
    let mut owned: Option<String> = None;
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                let value = owned.map_or(Cow::Borrowed(&text[..i]), Cow::Owned);
                return Ok((value, &text[i + 1..]));
            }
            '\\' => {
                let out = owned.get_or_insert_with(|| text[..i].to_owned());
                match chars.next() {
                    Some((_, escaped @ ('"' | '\\' | ']'))) => out.push(escaped),
                    // Any other backslash is kept as it is (RFC 5424 6.3.3).
                    Some((_, other)) => {
                        out.push('\\');
                        out.push(other);
                    }
                    None => break,
                }
            }
            other => {
                if let Some(out) = owned.as_mut() {
                    out.push(other);
                }
            }
        }
    }
    Err(SyslogProblem::StructuredData("a parameter value is not closed"))
}

/// The header after `<PRI>` in the BSD format; returns the message. Senders
/// vary (no hostname, no tag, an ISO timestamp): what cannot be read as a
/// header is left in the message.
fn rfc3164<'a>(rest: &'a str, now: Timestamp, header: &mut Vec<(Cow<'a, str>, Json<'a>)>) -> &'a str {
    header.push(key("format", text_value("rfc3164")));
    let (timestamp, mut rest) = match bsd_timestamp(rest, now) {
        Some((timestamp, after)) => (Some(timestamp), after),
        None => match rest.split_once(' ').filter(|(t, _)| Timestamp::parse(t).is_ok()) {
            Some((iso, after)) => (Some(iso.to_owned()), after),
            None => (None, rest),
        },
    };
    let has_timestamp = timestamp.is_some();
    match timestamp {
        Some(timestamp) => {
            header.push(key("timestamp", Json::String(Cow::Owned(timestamp))));
            header.push(key("timestamp_source", text_value("message")));
        }
        None => received_at(now, header),
    }
    // HOSTNAME follows a timestamp, unless the next word is already the tag
    // (`tag:` or `tag[pid]:`).
    if has_timestamp
        && let Some((word, after)) = rest.split_once(' ')
        && !word.ends_with(':')
        && !word.contains('[')
        && !word.is_empty()
    {
        header.push(key("hostname", text_value(word)));
        rest = after;
    }
    if let Some((tag, after)) = rest.split_once(": ").or_else(|| rest.strip_suffix(':').map(|t| (t, "")))
        && !tag.is_empty()
        && tag.len() <= 48
        && !tag.contains(' ')
    {
        let (app, pid) = match tag.strip_suffix(']').and_then(|t| t.split_once('[')) {
            Some((app, pid)) => (app, Some(pid)),
            None => (tag, None),
        };
        header.push(key("app_name", text_value(app)));
        if let Some(pid) = pid {
            header.push(key("procid", text_value(pid)));
        }
        rest = after;
    }
    rest
}

/// `Mmm dd hh:mm:ss ` (day padded with a space or a zero) as RFC 3339.
fn bsd_timestamp(text: &str, now: Timestamp) -> Option<(String, &str)> {
    let month = MONTHS.iter().position(|m| text.starts_with(m))? + 1;
    let rest = text.get(3..)?.trim_start_matches(' ');
    let (day, rest) = rest.split_once(' ')?;
    let day: u32 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    let (clock, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let bytes = clock.as_bytes();
    let well_formed = bytes.len() == 8
        && bytes[2] == b':'
        && bytes[5] == b':'
        && bytes.iter().enumerate().all(|(i, b)| i == 2 || i == 5 || b.is_ascii_digit());
    if !well_formed {
        return None;
    }
    let year: i64 = now.date_string().get(..4)?.parse().ok()?;
    let at = |year: i64| format!("{year:04}-{month:02}-{day:02}T{clock}Z");
    let this_year = at(year);
    let ahead = Timestamp::parse(&this_year).ok()?.as_micros() - now.as_micros() > 86_400_000_000;
    Some((if ahead { at(year - 1) } else { this_year }, rest))
}

fn received_at<'a>(now: Timestamp, header: &mut Vec<(Cow<'a, str>, Json<'a>)>) {
    let mut text = String::new();
    now.write_rfc3339(&mut text);
    header.push(key("timestamp", Json::String(Cow::Owned(text))));
    header.push(key("timestamp_source", text_value("received")));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::parse("2026-11-24T12:00:00Z").expect("time")
    }

    fn parsed(line: &str) -> serde_json::Value {
        let json = parse_at(line.as_bytes(), now()).expect(line).to_json_string();
        serde_json::from_str(&json).expect("json")
    }

    #[test]
    fn rfc5424_with_structured_data() {
        let record = parsed(
            r#"<86>1 2026-11-24T10:00:00.123Z gw-1 agentd 4242 ACTION [agent@32473 agent_id="deployer-7" on_behalf_of="alice@example.com" note="a \"quoted\" \] value"][meta sequenceId="7"] tool call done"#,
        );
        let syslog = &record["syslog"];
        assert_eq!(syslog["format"], "rfc5424");
        assert_eq!(syslog["facility"], "authpriv");
        assert_eq!(syslog["severity"], "info");
        assert_eq!(syslog["timestamp"], "2026-11-24T10:00:00.123Z");
        assert_eq!(syslog["hostname"], "gw-1");
        assert_eq!(syslog["app_name"], "agentd");
        assert_eq!(syslog["procid"], "4242");
        assert_eq!(syslog["msgid"], "ACTION");
        assert_eq!(syslog["sd"]["agent@32473"]["agent_id"], "deployer-7");
        assert_eq!(syslog["params"]["note"], r#"a "quoted" ] value"#);
        assert_eq!(syslog["params"]["sequenceId"], "7");
        assert_eq!(record["message"], "tool call done");
    }

    #[test]
    fn rfc5424_nil_values_and_a_json_message() {
        let record = parsed(r#"<110>1 - - vault - - - {"type":"request","time":"2026-11-24T10:00:00Z"}"#);
        assert_eq!(record["type"], "request");
        assert_eq!(record["syslog"]["app_name"], "vault");
        assert_eq!(record["syslog"]["timestamp_source"], "received");
        assert_eq!(record["syslog"]["timestamp"], "2026-11-24T12:00:00.000000Z");
        assert!(record["syslog"].get("hostname").is_none());
        let cee = parsed(r#"<14>1 2026-11-24T10:00:00Z h app - - - @cee: {"msg":"hi"}"#);
        assert_eq!(cee["msg"], "hi");
    }

    #[test]
    fn rfc3164_variants() {
        let record = parsed(
            "<38>Nov 24 06:30:01 bastion sshd[811]: Accepted publickey for alice from 192.0.2.7 port 50022 ssh2",
        );
        let syslog = &record["syslog"];
        assert_eq!(syslog["format"], "rfc3164");
        assert_eq!(syslog["facility"], "auth");
        assert_eq!(syslog["timestamp"], "2026-11-24T06:30:01Z");
        assert_eq!(syslog["hostname"], "bastion");
        assert_eq!(syslog["app_name"], "sshd");
        assert_eq!(syslog["procid"], "811");
        assert!(record["message"].as_str().is_some_and(|m| m.starts_with("Accepted publickey")));

        // Late December read in January is last year; a day padded with a space.
        let december =
            parse_at(b"<13>Dec 31 23:59:59 host app: bye", Timestamp::parse("2027-01-01T00:00:05Z").expect("t"))
                .expect("parsed")
                .to_json_string();
        assert!(december.contains("2026-12-31T23:59:59Z"), "{december}");
        let padded = parsed("<13>Nov  4 01:02:03 host app: x");
        assert_eq!(padded["syslog"]["timestamp"], "2026-11-04T01:02:03Z");

        // No hostname, only a tag; no header at all.
        let tag_only = parsed("<13>Nov 24 06:30:01 cron[5]: job done");
        assert!(tag_only["syslog"].get("hostname").is_none());
        assert_eq!(tag_only["syslog"]["app_name"], "cron");
        let bare = parsed("<13>just a message");
        assert_eq!(bare["message"], "just a message");
        assert_eq!(bare["syslog"]["timestamp_source"], "received");
    }

    #[test]
    fn malformed_messages_name_the_problem() {
        for (line, problem) in [
            ("<192>1 - - - - - -", SyslogProblem::Priority),
            ("<x>hello", SyslogProblem::Priority),
            ("<1234>hello", SyslogProblem::Priority),
            ("<13>1 2026-11-24T10:00:00Z host", SyslogProblem::Header("no app name")),
            ("<13>1 - h a p m [id x=\"unclosed", SyslogProblem::StructuredData("a parameter value is not closed")),
            ("<13>1 - h a p m [id x=unquoted]", SyslogProblem::StructuredData("a parameter value is not quoted")),
            ("<13>1 - h a p m nosd", SyslogProblem::StructuredData("expected `-` or `[`")),
        ] {
            assert_eq!(parse_at(line.as_bytes(), now()).expect_err(line), problem, "{line}");
        }
        assert_eq!(parse_at(b"<13>\xff\xfe", now()).expect_err("bytes"), SyslogProblem::NotUtf8);
    }
}
