//! The safety advice as stored (migration 0011 of both engines): settings and observations
//! as JSON text, items and dismissals as rows with the severity as its rank (so storage can
//! order worst first) and times as unix ms.

use crate::columns::time;
use crate::rows::IntoRecord;
use keyward_core::advice::{
    AdviceCode, AdviceItem, AdviceSettings, Dismissal, KeyAdvice, KeyObservations, Severity,
};
use keyward_core::StoreError;

/// Settings, observations or evidence as stored: JSON text.
pub fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Refused(format!("unstorable advice: {e}")))
}

fn code(text: &str, what: &str) -> Result<AdviceCode, StoreError> {
    AdviceCode::parse(text).ok_or_else(|| StoreError::Corrupt(format!("{what} code")))
}

#[derive(sqlx::FromRow)]
pub struct AdviceSettingsRow {
    workspace_id: String,
    settings: String,
}

impl IntoRecord for AdviceSettingsRow {
    type Record = AdviceSettings;

    fn into_record(self) -> Result<AdviceSettings, StoreError> {
        serde_json::from_str(&self.settings)
            .map_err(|_| StoreError::Corrupt(format!("advice settings of {}", self.workspace_id)))
    }
}

#[derive(sqlx::FromRow)]
pub struct ObservationsRow {
    workspace_id: String,
    key_id: String,
    observations: String,
}

impl IntoRecord for ObservationsRow {
    type Record = KeyObservations;

    fn into_record(self) -> Result<KeyObservations, StoreError> {
        let mut obs: KeyObservations = serde_json::from_str(&self.observations)
            .map_err(|_| StoreError::Corrupt(format!("observations of key {}", self.key_id)))?;
        obs.workspace_id = self.workspace_id;
        obs.key_id = self.key_id;
        Ok(obs)
    }
}

#[derive(sqlx::FromRow)]
pub struct AdviceRow {
    workspace_id: String,
    key_id: String,
    key_name: String,
    code: String,
    severity: i64,
    message: String,
    since: i64,
    evidence: String,
    fingerprint: String,
}

impl IntoRecord for AdviceRow {
    type Record = KeyAdvice;

    fn into_record(self) -> Result<KeyAdvice, StoreError> {
        let what = format!("advice of key {}", self.key_id);
        let evidence = serde_json::from_str(&self.evidence)
            .map_err(|_| StoreError::Corrupt(format!("{what} evidence")))?;
        Ok(KeyAdvice {
            workspace_id: self.workspace_id,
            key_name: self.key_name,
            item: AdviceItem {
                code: code(&self.code, &what)?,
                severity: Severity::from_rank(self.severity)
                    .ok_or_else(|| StoreError::Corrupt(format!("{what} severity")))?,
                message: self.message,
                since: time(self.since, &what)?,
                evidence,
                fingerprint: self.fingerprint,
            },
            key_id: self.key_id,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct DismissalRow {
    workspace_id: String,
    key_id: String,
    code: String,
    fingerprint: String,
    dismissed_by: String,
    dismissed_at: i64,
}

impl IntoRecord for DismissalRow {
    type Record = Dismissal;

    fn into_record(self) -> Result<Dismissal, StoreError> {
        let what = format!("dismissal of key {}", self.key_id);
        Ok(Dismissal {
            code: code(&self.code, &what)?,
            dismissed_at: time(self.dismissed_at, &what)?,
            workspace_id: self.workspace_id,
            key_id: self.key_id,
            fingerprint: self.fingerprint,
            dismissed_by: self.dismissed_by,
        })
    }
}
