//! The audit page over HTTP: the contract's exact shape, and a `total` that shows a new entry on
//! the very next request to the same server (counts are cached, writes retire them at once).

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

const ENTRY_FIELDS: [&str; 16] = [
    "id",
    "action",
    "resource_type",
    "resource_id",
    "domain",
    "project",
    "user_id",
    "user_email",
    "ip_address",
    "user_agent",
    "request_method",
    "request_path",
    "status",
    "status_code",
    "details",
    "timestamp",
];

both_stores!(total_shows_each_write_at_once, |backend| async move {
    let s = TestServer::start(backend).await;
    let admin = s.admin_token().await;
    let mut last = 0;
    for i in 0..6 {
        let resp = s
            .http
            .get(s.url("/api/v1/audit-logs?page_size=100"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], "application/json");
        let page: serde_json::Value = resp.json().await.unwrap();
        let keys: Vec<&str> = page
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        let mut want = vec!["audit_logs", "page", "page_size", "total"];
        want.sort_unstable();
        assert_eq!(keys, want);
        assert_eq!(
            (page["page"].clone(), page["page_size"].clone()),
            (json!(1), json!(100))
        );
        let entries = page["audit_logs"].as_array().unwrap();
        let total = page["total"].as_i64().unwrap();
        // Fewer than a page in all: the total must match exactly what the page shows.
        assert_eq!(total, entries.len() as i64, "{page}");
        assert!(
            total > last,
            "the write before this read must show: {total} after {last}"
        );
        last = total;
        for e in entries {
            let mut fields: Vec<&str> = e.as_object().unwrap().keys().map(|k| k.as_str()).collect();
            fields.sort_unstable();
            let mut want = ENTRY_FIELDS.to_vec();
            want.sort_unstable();
            assert_eq!(fields, want);
            let at = e["timestamp"].as_str().unwrap();
            assert!(at.ends_with('Z'), "RFC 3339 UTC: {at}");
            chrono::DateTime::parse_from_rfc3339(at).unwrap();
        }
        if i > 0 {
            let created = format!("t-{}", i - 1);
            assert!(
                entries
                    .iter()
                    .any(|e| e["action"] == "tenant.create" && e["resource_id"] == created),
                "the entry of the write before this read is listed: {page}"
            );
        }
        let (st, _) = s
            .post("/api/v1/tenants", &admin, json!({"name": format!("t-{i}")}))
            .await;
        assert_eq!(st, StatusCode::CREATED);
    }
    s.running.shutdown().await;
});
