//! Normalization throughput on mixed-source bench-data (all seven sources in
//! their native formats, as `agentrail-benchgen` writes `mixed.ndjson`), on
//! one core, against a plain `serde_json::Value` parse of the same lines:
//! the ratio between the two is the cost of detection, mapping, redaction,
//! ids and attributes.
//!
//! `cargo bench -p agentrail-collect --bench normalize`

use std::hint::black_box;

use agentrail_collect::{SourceChoice, builtin_normalizer};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const RECORDS: usize = 20_000;

fn bench(c: &mut Criterion) {
    let input = agentrail_bench_data::mixed_ndjson(42, RECORDS);
    let lines = input.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
    let normalizer = builtin_normalizer().expect("built-in configuration loads");
    let choice = SourceChoice::Auto;

    // Every line must normalize, or the figure would flatter a failing path.
    let mut rejected = 0;
    normalizer.normalize(&input, &choice, &mut |r| rejected += usize::from(r.is_err()));
    assert_eq!(rejected, 0, "bench-data must normalize cleanly");

    for (unit, throughput) in
        [("records", Throughput::Elements(lines as u64)), ("bytes", Throughput::Bytes(input.len() as u64))]
    {
        let mut group = c.benchmark_group(format!("normalize_mixed_{unit}"));
        group.throughput(throughput);
        group.sample_size(20);
        group.bench_function("serde_json_value_baseline", |b| {
            b.iter(|| {
                for line in input.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    black_box(serde_json::from_slice::<serde_json::Value>(line).ok());
                }
            })
        });
        group.bench_function("agentrail_normalize", |b| {
            b.iter(|| {
                let mut count = 0_usize;
                normalizer.normalize(black_box(&input), &choice, &mut |r| {
                    count += 1;
                    black_box(r.ok());
                });
                count
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
