//! Logging in over the PostgreSQL wire protocol: the password is a token,
//! as the read API's bearer token, and it must hold the analyst role (or
//! admin). With no tokens configured (loopback only, as on the HTTP side)
//! any user name is let in without a password.

use std::fmt::Debug;
use std::sync::Arc;

use agentrail_event::Outcome;
use async_trait::async_trait;
use datafusion_postgres::pgwire::api::auth::{
    DefaultServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use datafusion_postgres::pgwire::api::{
    ClientInfo, METADATA_APPLICATION_NAME, METADATA_USER, PgWireConnectionState, PidSecretKeyGenerator,
    RandomPidSecretKeyGenerator,
};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::startup::Authentication;
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use futures::{Sink, SinkExt};

use crate::audit::{Auditor, WireRequest};
use crate::http::{HttpConfig, Role, find_token};

/// Who a connection logged in as, kept in its session extensions.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The configured token's name; `None` when no tokens are configured.
    pub token: Option<String>,
}

/// The role SQL over the wire needs, as the read API's query endpoint.
const NEEDED: Role = Role::Analyst;

pub(crate) struct TokenStartup {
    config: Arc<HttpConfig>,
    auditor: Option<Auditor>,
    parameters: DefaultServerParameterProvider,
    keys: RandomPidSecretKeyGenerator,
    /// With TLS configured, a client that did not ask for it is refused:
    /// its password (a token) would cross the network in clear.
    require_tls: bool,
}

impl TokenStartup {
    pub(crate) fn new(config: Arc<HttpConfig>, auditor: Option<Auditor>, require_tls: bool) -> TokenStartup {
        let mut parameters = DefaultServerParameterProvider::default();
        // Clients (Metabase, Grafana) read these to decide what to send.
        parameters.is_superuser = false;
        parameters.default_transaction_read_only = true;
        TokenStartup { config, auditor, parameters, keys: RandomPidSecretKeyGenerator::default(), require_tls }
    }

    /// The token's name, or why the password is refused.
    fn check(&self, password: &str) -> Result<String, String> {
        let Some(token) = find_token(&self.config, password) else {
            return Err("password authentication failed: the password must be an agentrail token".to_owned());
        };
        if !token.may(NEEDED) {
            return Err(format!(
                "token {:?} does not have the {} role SQL needs (password authentication failed)",
                token.name,
                NEEDED.as_str()
            ));
        }
        Ok(token.name.clone())
    }

    async fn let_in<C>(&self, client: &mut C, caller: Caller) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        client.session_extensions().insert(caller);
        let (pid, secret) = self.keys.generate(&*client);
        client.set_pid_and_secret_key(pid, secret);
        finish_authentication(client, &self.parameters).await
    }
}

#[async_trait]
impl StartupHandler for TokenStartup {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(startup) => {
                protocol_negotiation(client, &startup).await?;
                save_startup_parameters_to_metadata(client, &startup);
                if self.require_tls && !client.is_secure() {
                    // 28000: invalid_authorization_specification, as pg_hba's hostssl.
                    return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                        "FATAL".to_owned(),
                        "28000".to_owned(),
                        "this server accepts PostgreSQL clients over TLS only (sslmode=require or verify-full)"
                            .to_owned(),
                    ))));
                }
                if self.config.tokens.is_empty() {
                    return self.let_in(client, Caller { token: None }).await;
                }
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                client.send(PgWireBackendMessage::Authentication(Authentication::CleartextPassword)).await?;
            }
            PgWireFrontendMessage::PasswordMessageFamily(password) => {
                let password = password.into_password()?;
                match self.check(&password.password) {
                    Ok(name) => return self.let_in(client, Caller { token: Some(name) }).await,
                    Err(reason) => {
                        if let Some(auditor) = &self.auditor {
                            let metadata = client.metadata();
                            auditor.record_wire(WireRequest {
                                action: "pg.login",
                                token: None,
                                user: metadata.get(METADATA_USER).map(String::as_str),
                                application: metadata.get(METADATA_APPLICATION_NAME).map(String::as_str),
                                peer: client.socket_addr(),
                                sql: None,
                                rows: None,
                                outcome: Outcome::Denied,
                                reason: Some(reason.clone()),
                            });
                        }
                        // 28P01: invalid_password, as PostgreSQL answers.
                        return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                            "FATAL".to_owned(),
                            "28P01".to_owned(),
                            reason,
                        ))));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}
