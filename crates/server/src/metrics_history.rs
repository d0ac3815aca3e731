//! Range queries to the Prometheus that scrapes the databases' exporters
//! (`DBAAS_PROMETHEUS_URL`), for `GET /{id}/metrics/history`. The PromQL comes from the domain's
//! fixed list per engine, scoped to one database by its id; nothing of the request's text goes in.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One series of a range query: its labels and `[unix seconds, value]` points.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Series {
    pub labels: std::collections::BTreeMap<String, String>,
    #[schema(value_type = Vec<Vec<f64>>)]
    pub points: Vec<(f64, f64)>,
}

pub struct Prometheus {
    base: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(default)]
    result: Vec<RawSeries>,
}

#[derive(Deserialize)]
struct RawSeries {
    #[serde(default)]
    metric: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

impl Prometheus {
    pub fn new(base: &str) -> Prometheus {
        Prometheus {
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }

    /// `query` over `[start, end]` every `step`; an error says why in words.
    pub async fn range(
        &self,
        query: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step: u64,
    ) -> Result<Vec<Series>, String> {
        let r = self
            .http
            .get(format!("{}/api/v1/query_range", self.base))
            .query(&[
                ("query", query.to_string()),
                ("start", start.timestamp().to_string()),
                ("end", end.timestamp().to_string()),
                ("step", step.to_string()),
            ])
            .send()
            .await
            .map_err(|e| format!("Prometheus could not be reached: {e}"))?;
        let status = r.status();
        let answer: Answer = r.json().await.map_err(|e| {
            format!("Prometheus answered {status} with something else than its API's JSON: {e}")
        })?;
        if answer.status != "success" {
            return Err(format!(
                "Prometheus refused the query: {}",
                answer.error.unwrap_or_else(|| status.to_string())
            ));
        }
        Ok(answer
            .data
            .map(|d| d.result)
            .unwrap_or_default()
            .into_iter()
            .map(|s| Series {
                labels: s.metric,
                points: s
                    .values
                    .into_iter()
                    .filter_map(|(t, v)| {
                        v.parse::<f64>()
                            .ok()
                            .filter(|v| v.is_finite())
                            .map(|v| (t, v))
                    })
                    .collect(),
            })
            .collect())
    }
}
