//! `GET /health` of the gateway: every service checked, overall verdict.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ServiceStatus {
    Up,
    Down,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum OverallStatus {
    /// Every service is up.
    Healthy,
    /// Some services are down.
    Degraded,
    /// Every service is down.
    Unhealthy,
}

impl OverallStatus {
    /// The verdict for a set of service states.
    pub fn from_statuses<I: IntoIterator<Item = ServiceStatus>>(statuses: I) -> Self {
        let (mut up, mut total) = (0usize, 0usize);
        for s in statuses {
            total += 1;
            if s == ServiceStatus::Up {
                up += 1;
            }
        }
        match up {
            n if n == total => Self::Healthy,
            0 => Self::Unhealthy,
            _ => Self::Degraded,
        }
    }
}

/// One service as the gateway saw it: `{status, response_time_ms, url}` when
/// up, `{status, error, url}` when down.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ServiceHealth {
    pub status: ServiceStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_time_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct GatewayHealth {
    pub status: ServiceStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct HealthReport {
    pub status: OverallStatus,
    pub timestamp: DateTime<Utc>,
    pub gateway: GatewayHealth,
    /// Keyed by service name (`user-service`, `product-service`, ...).
    pub services: BTreeMap<String, ServiceHealth>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use ServiceStatus::{Down, Up};

    #[test]
    fn all_up_is_healthy() {
        assert_eq!(
            OverallStatus::from_statuses([Up, Up, Up, Up]),
            OverallStatus::Healthy
        );
    }

    #[test]
    fn some_down_is_degraded() {
        assert_eq!(
            OverallStatus::from_statuses([Up, Down, Up, Up]),
            OverallStatus::Degraded
        );
    }

    #[test]
    fn all_down_is_unhealthy() {
        assert_eq!(
            OverallStatus::from_statuses([Down, Down]),
            OverallStatus::Unhealthy
        );
    }

    #[test]
    fn down_service_serialises_error_not_time() {
        let s = ServiceHealth {
            status: Down,
            response_time_ms: None,
            error: Some("connection refused".into()),
            url: "http://127.0.0.1:8001".into(),
        };
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            serde_json::json!({"status": "down", "error": "connection refused", "url": "http://127.0.0.1:8001"})
        );
    }
}
