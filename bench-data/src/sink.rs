//! Where records go: one file per source in its vendor's delivery shape,
//! plus `mixed.ndjson` with every record on its own line in time order.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::rc::Rc;

use crate::record::{Body, Emitted, OTEL_RESOURCE_SUFFIX, Source};
use crate::time::{NANOS_PER_MIN, Nanos};

/// Records per CloudTrail log-file document.
pub const CLOUDTRAIL_BATCH: usize = 50;
/// CloudTrail delivers a file per region about every five minutes.
const CLOUDTRAIL_FLUSH: Nanos = 5 * NANOS_PER_MIN;
/// Log records per OTLP export request, at most.
const OTEL_BATCH: usize = 100;

/// Receives records in time order.
pub trait Sink {
    fn record(&mut self, emitted: Emitted) -> io::Result<()>;
    fn finish(&mut self) -> io::Result<()>;
}

/// Writes one `mixed.ndjson` line for a record.
pub fn write_mixed(out: &mut impl Write, emitted: &Emitted) -> io::Result<()> {
    match &emitted.body {
        Body::Line(line) => out.write_all(line.as_bytes())?,
        Body::CloudTrail { record, .. } => out.write_all(record.as_bytes())?,
        Body::Otel { resource_prefix, record } => {
            out.write_all(b"{\"resourceLogs\":[")?;
            out.write_all(resource_prefix.as_bytes())?;
            out.write_all(record.as_bytes())?;
            out.write_all(OTEL_RESOURCE_SUFFIX.as_bytes())?;
            out.write_all(b"]}")?;
        }
    }
    out.write_all(b"\n")
}

/// Only `mixed.ndjson`, to any writer: in memory (`MixedSink::default()`)
/// or a file (`benchgen --mixed-only`, for runs too large to write twice).
#[derive(Debug)]
pub struct MixedSink<W: Write = Vec<u8>> {
    pub bytes: W,
}

// Only the in-memory sink has a default, so `MixedSink::default()` needs no type.
impl Default for MixedSink {
    fn default() -> Self {
        MixedSink { bytes: Vec::new() }
    }
}

impl<W: Write> Sink for MixedSink<W> {
    fn record(&mut self, emitted: Emitted) -> io::Result<()> {
        write_mixed(&mut self.bytes, &emitted)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.bytes.flush()
    }
}

#[derive(Debug, Default)]
struct CloudTrailBatch {
    region: &'static str,
    opened: Nanos,
    records: Vec<String>,
}

#[derive(Debug)]
struct OtelGroup {
    prefix: Rc<str>,
    records: Vec<String>,
}

/// Batches CloudTrail records per region and OTLP records per emitting process.
#[derive(Debug)]
pub struct VendorFormatter {
    cloudtrail: Vec<CloudTrailBatch>,
    otel_minute: Nanos,
    otel: Vec<OtelGroup>,
}

impl Default for VendorFormatter {
    fn default() -> Self {
        VendorFormatter { cloudtrail: Vec::new(), otel_minute: Nanos::MIN, otel: Vec::new() }
    }
}

fn write_cloudtrail(out: &mut impl Write, records: &[String]) -> io::Result<()> {
    out.write_all(b"{\"Records\":[")?;
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(record.as_bytes())?;
    }
    out.write_all(b"]}\n")
}

fn write_otel(out: &mut impl Write, group: &OtelGroup) -> io::Result<()> {
    out.write_all(b"{\"resourceLogs\":[")?;
    out.write_all(group.prefix.as_bytes())?;
    for (i, record) in group.records.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(record.as_bytes())?;
    }
    out.write_all(OTEL_RESOURCE_SUFFIX.as_bytes())?;
    out.write_all(b"]}\n")
}

impl VendorFormatter {
    /// Writes (or buffers) a record into its source's file.
    pub fn record<W: Write>(&mut self, files: &mut [W], emitted: Emitted) -> io::Result<()> {
        let index = emitted.source.index();
        let time = emitted.time;
        match emitted.body {
            Body::Line(line) => {
                files[index].write_all(line.as_bytes())?;
                files[index].write_all(b"\n")
            }
            Body::CloudTrail { region, record } => {
                // Deliver files whose five minutes are over.
                let mut kept = Vec::with_capacity(self.cloudtrail.len());
                for batch in std::mem::take(&mut self.cloudtrail) {
                    if time - batch.opened >= CLOUDTRAIL_FLUSH {
                        write_cloudtrail(&mut files[index], &batch.records)?;
                    } else {
                        kept.push(batch);
                    }
                }
                self.cloudtrail = kept;
                let position = match self.cloudtrail.iter().position(|b| b.region == region) {
                    Some(position) => position,
                    None => {
                        self.cloudtrail.push(CloudTrailBatch { region, opened: time, records: Vec::new() });
                        self.cloudtrail.len() - 1
                    }
                };
                self.cloudtrail[position].records.push(record);
                if self.cloudtrail[position].records.len() >= CLOUDTRAIL_BATCH {
                    let batch = self.cloudtrail.remove(position);
                    write_cloudtrail(&mut files[index], &batch.records)?;
                }
                Ok(())
            }
            Body::Otel { resource_prefix, record } => {
                let minute = time.div_euclid(NANOS_PER_MIN);
                if minute != self.otel_minute {
                    self.flush_otel(&mut files[index])?;
                    self.otel_minute = minute;
                }
                let position = match self
                    .otel
                    .iter()
                    .position(|g| Rc::ptr_eq(&g.prefix, &resource_prefix) || g.prefix == resource_prefix)
                {
                    Some(position) => position,
                    None => {
                        self.otel.push(OtelGroup { prefix: resource_prefix, records: Vec::new() });
                        self.otel.len() - 1
                    }
                };
                self.otel[position].records.push(record);
                if self.otel[position].records.len() >= OTEL_BATCH {
                    let group = self.otel.remove(position);
                    write_otel(&mut files[index], &group)?;
                }
                Ok(())
            }
        }
    }

    fn flush_otel<W: Write>(&mut self, out: &mut W) -> io::Result<()> {
        for group in std::mem::take(&mut self.otel) {
            write_otel(out, &group)?;
        }
        Ok(())
    }

    /// Writes everything still buffered.
    pub fn finish<W: Write>(&mut self, files: &mut [W]) -> io::Result<()> {
        self.flush_otel(&mut files[Source::Otel.index()])?;
        for batch in std::mem::take(&mut self.cloudtrail) {
            write_cloudtrail(&mut files[Source::CloudTrail.index()], &batch.records)?;
        }
        Ok(())
    }
}

/// `DIR/<source>.ndjson` for every source and `DIR/mixed.ndjson`.
#[derive(Debug)]
pub struct FileSink {
    files: Vec<BufWriter<File>>,
    mixed: BufWriter<File>,
    formatter: VendorFormatter,
}

impl FileSink {
    pub fn create(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let open = |name: &str| -> io::Result<BufWriter<File>> {
            Ok(BufWriter::with_capacity(1 << 20, File::create(dir.join(format!("{name}.ndjson")))?))
        };
        let files = Source::ALL.iter().map(|s| open(s.name())).collect::<io::Result<Vec<_>>>()?;
        Ok(FileSink { files, mixed: open("mixed")?, formatter: VendorFormatter::default() })
    }
}

impl Sink for FileSink {
    fn record(&mut self, emitted: Emitted) -> io::Result<()> {
        write_mixed(&mut self.mixed, &emitted)?;
        self.formatter.record(&mut self.files, emitted)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.formatter.finish(&mut self.files)?;
        for file in &mut self.files {
            file.flush()?;
        }
        self.mixed.flush()
    }
}
