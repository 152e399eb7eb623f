//! Background traffic of people and services (everything that is not an AI
//! agent calling through the gateway): one record at a time, drawn by
//! source weight and by time of day, with no state kept between records.

mod aws;
mod gcp;
mod github;
mod k8s;
mod okta;
mod otel;

use std::rc::Rc;

use crate::ids::{Gen, Stream};
use crate::record::Emitted;
use crate::time::{Nanos, hour_of_day, weekday};
use crate::world::{Team, World};

/// Share of background records per source.
const SOURCE_WEIGHTS: [(BgSource, f64); 6] = [
    (BgSource::CloudTrail, 0.38),
    (BgSource::K8s, 0.35),
    (BgSource::Gcp, 0.09),
    (BgSource::Okta, 0.06),
    (BgSource::GitHub, 0.07),
    (BgSource::Otel, 0.05),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BgSource {
    CloudTrail,
    K8s,
    Gcp,
    Okta,
    GitHub,
    Otel,
}

/// How busy people are at `at` (0..1): working hours in Europe and the US, quieter weekends.
pub fn human_activity(at: Nanos) -> f64 {
    let hour = hour_of_day(at);
    let base = match hour {
        13..=21 => 1.0,
        8..=12 => 0.7,
        22 | 23 => 0.45,
        6 | 7 => 0.3,
        _ => 0.12,
    };
    if weekday(at) >= 5 { base * 0.2 } else { base }
}

/// Relative volume of all background traffic at `at` (services never sleep).
pub fn volume_weight(at: Nanos) -> f64 {
    1.0 + 0.8 * human_activity(at)
}

/// Office and VPN egress addresses.
pub const OFFICE_IPS: [&str; 3] = ["203.0.113.7", "203.0.113.8", "198.51.100.44"];

/// The background generator.
#[derive(Debug)]
pub struct Background {
    g: Gen,
    seed: u64,
    otel_services: Vec<Rc<str>>,
    otel_assistants: Vec<(usize, Rc<str>)>,
}

impl Background {
    pub fn new(seed: u64, assistants: Vec<(usize, Rc<str>)>) -> Self {
        Background {
            g: Gen::new(seed, Stream::Background),
            seed,
            otel_services: otel::service_resources(),
            otel_assistants: assistants,
        }
    }

    /// Writes background records at `at` (usually one; a Kubernetes request
    /// may log two stages) into `out`, at most `room` of them.
    pub fn emit(&mut self, world: &World, at: Nanos, room: usize, out: &mut Vec<Emitted>) {
        let weights: Vec<f64> = SOURCE_WEIGHTS.iter().map(|w| w.1).collect();
        let source = SOURCE_WEIGHTS[self.g.weighted(&weights)].0;
        let human = self.g.chance(human_activity(at) * 0.55);
        let g = &mut self.g;
        let seed = self.seed;
        match source {
            BgSource::CloudTrail => out.push(aws::record(world, g, seed, at, human)),
            BgSource::K8s => k8s::records(world, g, at, human, room, out),
            BgSource::Gcp => out.push(gcp::record(world, g, seed, at, human)),
            BgSource::Okta => out.push(okta::record(world, g, seed, at)),
            BgSource::GitHub => out.push(github::record(world, g, seed, at, human)),
            BgSource::Otel => {
                let assistant = human && !self.otel_assistants.is_empty() && g.chance(0.6);
                if assistant {
                    let (agent, prefix) = self.otel_assistants[g.below(self.otel_assistants.len())].clone();
                    out.push(otel::assistant_record(world, g, seed, at, agent, &prefix));
                } else {
                    let prefix = self.otel_services[g.below(self.otel_services.len())].clone();
                    out.push(otel::service_record(g, at, &prefix));
                }
            }
        }
    }

    /// One record of a coding assistant (used to make sure each appears early).
    pub fn assistant_record(&mut self, world: &World, at: Nanos, index: usize) -> Option<Emitted> {
        let (agent, prefix) = self.otel_assistants.get(index)?.clone();
        Some(otel::assistant_record(world, &mut self.g, self.seed, at, agent, &prefix))
    }
}

/// Picks a person from the given teams (weighted equally per person).
fn pick_human(world: &World, g: &mut Gen, teams: &[Team]) -> usize {
    let candidates: Vec<usize> = (0..world.humans.len()).filter(|&i| teams.contains(&world.humans[i].team)).collect();
    if candidates.is_empty() { g.below(world.humans.len()) } else { candidates[g.below(candidates.len())] }
}

/// A person's IP: office, VPN or home.
fn human_ip(world: &World, g: &mut Gen, human: usize) -> String {
    if g.chance(0.55) { (*g.pick(&OFFICE_IPS)).to_owned() } else { world.humans[human].home_ip.clone() }
}

/// The browser user agent of a person.
fn browser_ua(world: &World, human: usize) -> &'static str {
    let h = &world.humans[human];
    match (h.browser, h.os) {
        ("SAFARI", _) => {
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"
        }
        ("FIREFOX", _) => "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        (_, "Windows 10") => {
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
        }
        _ => {
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
        }
    }
}

/// Index of the 8-hour block of `at`, for ids that rotate a few times a day.
fn shift_index(at: Nanos) -> u64 {
    u64::try_from(at.max(0) / (8 * crate::time::NANOS_PER_HOUR)).unwrap_or(0)
}
