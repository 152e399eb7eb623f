//! Why a record becomes the event it becomes (`agentrail sources check`):
//! every mapping's `[detect]` conditions against the record, the mapping
//! taken, and for each column the alternative that filled it and those
//! tried before. The tool for writing or tuning a mapping; it runs the
//! same code as normalizing, so what it says is what ingest does.

use agentrail_event::Event;

use crate::decode::{self, Position};
use crate::mapping::{ColumnTrace, ConditionCheck};
use crate::normalize::{Normalizer, Rejection, SourceChoice};

/// One mapping's detection against one record.
#[derive(Debug, Clone)]
pub struct DetectionCheck {
    pub mapping: String,
    pub priority: i64,
    pub matched: bool,
    pub conditions: Vec<ConditionCheck>,
}

/// What happened to one record, and why.
#[derive(Debug)]
pub struct RecordCheck {
    pub position: Position,
    /// Every mapping in detection order (priority, then name).
    pub detection: Vec<DetectionCheck>,
    /// The mapping the record took, when one did.
    pub chosen: Option<String>,
    /// Why that mapping: named by the caller, implied by the envelope, or detected.
    pub chosen_because: &'static str,
    /// The chosen mapping's columns, in evaluation order.
    pub columns: Vec<ColumnTrace>,
    /// The event (redacted, with attributes), or why there is none.
    pub result: Result<Event, Rejection>,
}

impl RecordCheck {
    /// The mappings other than the chosen one whose detection also matched:
    /// an ambiguity a new mapping may have introduced.
    pub fn also_matched(&self) -> impl Iterator<Item = &DetectionCheck> {
        self.detection.iter().filter(|d| d.matched && Some(&d.mapping) != self.chosen.as_ref())
    }
}

impl Normalizer {
    /// Normalizes `input` as [`Normalizer::normalize`] does, telling `emit`
    /// for each record how it was detected and mapped.
    pub fn check(&self, input: &[u8], choice: &SourceChoice, emit: &mut dyn FnMut(RecordCheck)) {
        decode::decode(input, self.limits().decode, &mut |decoded| {
            let record = match decoded {
                Ok(record) => record,
                Err(rejection) => {
                    let position = rejection.position;
                    emit(RecordCheck {
                        position,
                        detection: Vec::new(),
                        chosen: None,
                        chosen_because: "the input could not be decoded",
                        columns: Vec::new(),
                        result: Err(rejection.into()),
                    });
                    return;
                }
            };
            let detection = self
                .registry()
                .mappings()
                .iter()
                .map(|mapping| DetectionCheck {
                    mapping: mapping.name.clone(),
                    priority: mapping.priority,
                    matched: mapping.detect.matches(&record.value),
                    conditions: mapping.detect.explain(&record.value),
                })
                .collect();
            let chosen_because = match (choice, record.implied_source) {
                (SourceChoice::Named(_), _) => "named with --source",
                (SourceChoice::Auto, Some(_)) => "implied by the envelope",
                (SourceChoice::Auto, None) => "the first, in priority order, whose detection matched",
            };
            let mut columns = Vec::new();
            let chosen = self.choose(&record.value, choice, record.implied_source).ok().map(|mapping| {
                // The outcome comes from `normalize_record` below; this run is for the trace.
                let _ = mapping.apply_traced(&record.value, Some(&mut columns));
                mapping.name.clone()
            });
            let position = record.position;
            let result = self.normalize_record(record, choice);
            emit(RecordCheck { position, detection, chosen, chosen_because, columns, result });
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin_normalizer;
    use crate::mapping::Column;

    fn check_one(input: &str, choice: &SourceChoice) -> RecordCheck {
        let normalizer = builtin_normalizer().expect("built-ins");
        let mut checks = Vec::new();
        normalizer.check(input.as_bytes(), choice, &mut |check| checks.push(check));
        assert_eq!(checks.len(), 1);
        checks.remove(0)
    }

    #[test]
    fn a_record_says_which_mapping_it_took_and_where_each_column_came_from() {
        let record = r#"{"uuid":"u-1","published":"2026-11-20T10:00:00Z","eventType":"user.session.start","actor":{"alternateId":"agent-deployer-7","type":"User"},"outcome":{"result":"SUCCESS"}}"#;
        let check = check_one(record, &SourceChoice::Auto);
        assert_eq!(check.chosen.as_deref(), Some("okta"));
        let okta = check.detection.iter().find(|d| d.mapping == "okta").expect("okta listed");
        assert!(okta.matched && okta.conditions.iter().all(|c| c.held), "{okta:?}");
        let github = check.detection.iter().find(|d| d.mapping == "github").expect("github listed");
        assert!(!github.matched && github.conditions.iter().any(|c| !c.held), "{github:?}");

        let column = |column: Column| check.columns.iter().find(|c| c.column == column).expect("traced");
        assert_eq!(column(Column::EventId).from, ["path uuid"]);
        let agent = column(Column::AgentId);
        assert!(agent.from[0].starts_with("path actor.alternateId | regex"), "{agent:?}");
        assert_eq!(agent.tried.len(), 1, "the OAuth-client alternative came first and gave nothing: {agent:?}");
        assert!(column(Column::OnBehalfOf).from.is_empty());
        let event = check.result.expect("normalized");
        assert_eq!(event.agent_id.as_deref(), Some("deployer-7"));
    }

    #[test]
    fn an_unrecognised_record_shows_every_failed_detection_and_a_bad_line_its_reason() {
        let check = check_one(r#"{"hello":"world"}"#, &SourceChoice::Auto);
        assert!(check.chosen.is_none());
        assert!(check.detection.iter().all(|d| !d.matched));
        assert!(check.result.is_err());

        let check = check_one("{not json", &SourceChoice::Auto);
        assert!(check.detection.is_empty() && check.chosen.is_none());
        assert!(check.result.is_err());

        let named = check_one(r#"{"hello":"world"}"#, &SourceChoice::Named("okta".into()));
        assert_eq!(named.chosen.as_deref(), Some("okta"));
        assert_eq!(named.chosen_because, "named with --source");
        assert!(named.result.is_err(), "no time, no action");
    }
}
