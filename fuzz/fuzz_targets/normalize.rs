//! Any bytes through decoding (JSON, and OTLP protobuf), detection, every
//! mapping and redaction: nothing may panic, and every rejection must carry
//! a reason.
#![no_main]

use std::sync::LazyLock;

use agentrail_collect::{Normalizer, SourceChoice, builtin_normalizer};
use libfuzzer_sys::fuzz_target;

static NORMALIZER: LazyLock<Normalizer> = LazyLock::new(|| match builtin_normalizer() {
    Ok(n) => n,
    Err(e) => panic!("built-in configuration does not load: {e}"),
});

static CHOICES: LazyLock<Vec<SourceChoice>> = LazyLock::new(|| {
    let mut choices = vec![SourceChoice::Auto];
    choices.extend(NORMALIZER.registry().mappings().iter().map(|m| SourceChoice::Named(m.name.clone())));
    choices
});

fuzz_target!(|data: &[u8]| {
    // The first byte picks the source choice, so every mapping gets fuzzed.
    let Some((&pick, input)) = data.split_first() else { return };
    // One more pick than sources: the bytes as an OTLP protobuf request.
    let pick = usize::from(pick) % (CHOICES.len() + 1);
    let converted;
    let (input, choice) = if pick == CHOICES.len() {
        let Ok(json) = agentrail_collect::otlp_proto::logs_request_to_json(input) else { return };
        converted = json;
        (converted.as_slice(), &CHOICES[0])
    } else {
        (input, &CHOICES[pick])
    };
    NORMALIZER.normalize(input, choice, &mut |result| {
        if let Err(rejection) = result {
            assert!(!rejection.reason.to_string().is_empty());
        }
    });
});
