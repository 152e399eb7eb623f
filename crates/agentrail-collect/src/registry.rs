//! The set of source mappings in use: the built-in files, overridden or
//! extended by a user's directory, and auto-detection over them.

use crate::json::Json;

use crate::mapping::{Mapping, MappingError, compile};

macro_rules! builtin_mappings {
    ($($file:literal),+ $(,)?) => {
        /// The mapping files embedded in the binary, by file name.
        pub const BUILTIN_MAPPINGS: &[(&str, &str)] =
            &[$(($file, include_str!(concat!("../../../schemas/sources/", $file)))),+];
    };
}

builtin_mappings!(
    "agent.toml",
    "otel.toml",
    "aws.cloudtrail.toml",
    "okta.toml",
    "github.toml",
    "k8s.audit.toml",
    "gcp.audit.toml",
    "syslog.toml",
    "terraform.cloud.toml",
    "anthropic.toml",
    "openai.toml",
    "opa.toml",
    "vault.toml",
    "spire.toml",
    "azure.activity.toml",
    "entra.signin.toml",
    "entra.audit.toml",
    "teleport.toml",
    "datadog.audit.toml",
    "slack.toml",
    "auth0.toml",
    "atlassian.org.toml",
    "jira.audit.toml",
    "pagerduty.toml",
);

/// Mappings ordered for detection: higher priority first, then by name, so
/// detection never depends on file order.
#[derive(Debug, Clone)]
pub struct Registry {
    mappings: Vec<Mapping>,
}

impl Registry {
    /// The built-in mappings only.
    pub fn builtin() -> Result<Self, MappingError> {
        Self::with_overrides(std::iter::empty::<(String, String)>())
    }

    /// The built-in mappings, with each given `(origin, text)` file replacing
    /// the built-in of the same source name or adding a new source. Two given
    /// files naming the same source are an error.
    pub fn with_overrides<O, T>(files: impl IntoIterator<Item = (O, T)>) -> Result<Self, MappingError>
    where
        O: AsRef<str>,
        T: AsRef<str>,
    {
        let mut mappings = BUILTIN_MAPPINGS
            .iter()
            .map(|(file, text)| compile(&format!("built-in:{file}"), text))
            .collect::<Result<Vec<_>, _>>()?;
        let mut overridden: Vec<String> = Vec::new();
        for (origin, text) in files {
            let mapping = compile(origin.as_ref(), text.as_ref())?;
            if overridden.contains(&mapping.name) {
                return Err(MappingError {
                    origin: mapping.origin,
                    problem: format!("source `{}` is defined by more than one mapping file", mapping.name),
                });
            }
            overridden.push(mapping.name.clone());
            mappings.retain(|m| m.name != mapping.name);
            mappings.push(mapping);
        }
        mappings.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.name.cmp(&b.name)));
        Ok(Registry { mappings })
    }

    pub fn get(&self, name: &str) -> Option<&Mapping> {
        self.mappings.iter().find(|m| m.name == name)
    }

    /// The first mapping, in priority order, whose `[detect]` matches.
    pub fn detect(&self, record: &Json<'_>) -> Option<&Mapping> {
        self.mappings.iter().find(|m| m.detect.matches(record))
    }

    /// Every mapping that would match, in priority order (for `sources check`).
    pub fn candidates<'r>(&'r self, record: &'r Json<'r>) -> impl Iterator<Item = &'r Mapping> + 'r {
        self.mappings.iter().filter(move |m| m.detect.matches(record))
    }

    pub fn mappings(&self) -> &[Mapping] {
        &self.mappings
    }

    /// The names of the auto-detectable sources, for messages.
    pub fn detectable_names(&self) -> String {
        self.mappings.iter().filter(|m| !m.detect.is_empty()).map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ")
    }
}
