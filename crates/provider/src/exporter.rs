//! A database exporter's page (Prometheus text format) as the samples the domain reads.

use domain::metrics::Sample;

use crate::error::ProviderError;

/// Parses an exporter's page. Histograms and summaries are left out: no figure of the metrics
/// document comes from them.
pub fn parse(page: &str) -> Result<Vec<Sample>, ProviderError> {
    let lines = page.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).map_err(|e| {
        ProviderError::Permanent(format!(
            "the exporter's page is not in Prometheus format: {e}"
        ))
    })?;
    Ok(scrape
        .samples
        .into_iter()
        .filter_map(|s| {
            let value = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => return None,
            };
            Some(Sample {
                name: s.metric,
                labels: s
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                value,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_keep_names_labels_and_values() {
        let page = "# HELP pg_up up\n# TYPE pg_up gauge\npg_up 1\n\
            # TYPE pg_stat_database_xact_commit counter\n\
            pg_stat_database_xact_commit{datname=\"app\",server=\"x:5432\"} 1234\n\
            # TYPE lat histogram\nlat_bucket{le=\"1\"} 2\nlat_bucket{le=\"+Inf\"} 3\nlat_sum 4\nlat_count 3\n";
        let s = parse(page).unwrap();
        assert!(s.contains(&Sample::new("pg_up", &[], 1.0)));
        let commit = s
            .iter()
            .find(|s| s.name == "pg_stat_database_xact_commit")
            .unwrap();
        assert_eq!(commit.value, 1234.0);
        assert_eq!(commit.labels["datname"], "app");
        // The histogram's buckets are not samples of their own.
        assert!(s.iter().all(|s| s.name != "lat" && s.name != "lat_bucket"));
    }
}
