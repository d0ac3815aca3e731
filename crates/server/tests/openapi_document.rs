//! The OpenAPI document describes every route the router serves, and describes it faithfully in
//! the ways a schema can be checked without a server: a route added to the router without an
//! annotation, or annotated without the document's conventions, fails here.
//! (scripts/api-check then validates the served document and fuzzes the server against it.)

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// Routes served but deliberately left out of the API description: the document itself, its
/// viewer, and the Prometheus exposition (text, for scrapers).
const UNDOCUMENTED: [&str; 3] = ["/openapi.json", "/docs", "/metrics"];

const METHODS: [&str; 5] = ["get", "put", "post", "patch", "delete"];

/// `(path, method)` of every route registered in `app.rs`, read from its source: the routes of
/// the routers nested under `/api/v1` come before `let router =`, the top-level ones after it.
fn registered_routes() -> BTreeSet<(String, String)> {
    let src = include_str!("../src/app.rs");
    let split = src
        .find("let router = Router::new()")
        .expect("app.rs builds its router");
    let mut out = BTreeSet::new();
    for (part, prefix) in [(&src[..split], "/api/v1"), (&src[split..], "")] {
        let mut rest = part;
        while let Some(i) = rest.find(".route(") {
            let args = &rest[i + ".route(".len()..];
            // The call's text, up to its matching parenthesis.
            let mut depth = 1;
            let mut end = 0;
            for (j, c) in args.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = j;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let call = &args[..end];
            rest = &args[end..];
            let path = call
                .split('"')
                .nth(1)
                .expect("a route's first argument is a string literal");
            let handlers = &call[call.find(',').expect("a route has a handler")..];
            // `route_layer(...)` wraps middleware, not methods.
            let handlers = handlers.split(".route_layer(").next().unwrap();
            let mut found = false;
            for method in METHODS {
                let calls = handlers
                    .match_indices(&format!("{method}("))
                    .filter(|(k, _)| {
                        handlers[..*k]
                            .chars()
                            .last()
                            .is_none_or(|c| !c.is_alphanumeric() && c != '_')
                    })
                    .count();
                if calls > 0 {
                    found = true;
                    out.insert((format!("{prefix}{path}"), method.to_string()));
                }
            }
            assert!(found, "no method found for route {path}: {handlers}");
        }
    }
    out
}

fn document() -> Value {
    server::routes::docs::document()
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((path.clone(), method.to_string(), op));
            }
        }
    }
    out
}

#[test]
fn every_registered_route_is_in_the_document_and_nothing_else() {
    let routes = registered_routes();
    assert!(routes.len() > 50, "the parser found the routes: {routes:?}");
    let doc = document();
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(p, m, _)| (p, m))
        .collect();
    let missing: Vec<_> = routes
        .iter()
        .filter(|(p, _)| !UNDOCUMENTED.contains(&p.as_str()))
        .filter(|r| !documented.contains(r))
        .collect();
    assert!(
        missing.is_empty(),
        "routes served but absent from the OpenAPI document (annotate the handler with \
         #[utoipa::path] and list it in routes/docs.rs): {missing:?}"
    );
    let extra: Vec<_> = documented.iter().filter(|r| !routes.contains(r)).collect();
    assert!(extra.is_empty(), "documented but not served: {extra:?}");
}

#[test]
fn operations_have_unique_ids_params_in_place_and_enveloped_errors() {
    let doc = document();
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    for (path, method, op) in operations(&doc) {
        let label = format!("{} {path}", method.to_uppercase());
        let id = op["operationId"].as_str().unwrap_or_default().to_string();
        assert!(!id.is_empty(), "{label}: no operationId");
        if let Some(other) = ids.insert(id.clone(), label.clone()) {
            panic!("operationId {id} names both {other} and {label}");
        }
        for p in op["parameters"].as_array().into_iter().flatten() {
            let name = p["name"].as_str().unwrap();
            let in_path = path.contains(&format!("{{{name}}}"));
            match p["in"].as_str().unwrap() {
                "path" => assert!(in_path, "{label}: {name} declared in path"),
                "query" | "header" => assert!(!in_path, "{label}: {name} is a path segment"),
                other => panic!("{label}: {name} in {other}"),
            }
        }
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{label}: no success response"
        );
        for (status, resp) in responses {
            if status.as_str() >= "400" {
                assert_eq!(
                    resp["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorEnvelope",
                    "{label}: {status} without the error envelope"
                );
            }
        }
        let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
        if path.starts_with("/api/v1/") {
            for status in ["429", "503"] {
                assert!(responses.contains_key(status), "{label}: no {status}");
            }
        }
        if secured {
            for status in ["401", "403"] {
                assert!(responses.contains_key(status), "{label}: no {status}");
            }
        }
        if path.contains('{') {
            assert!(responses.contains_key("404"), "{label}: no 404");
        }
        if op.get("requestBody").is_some() {
            for status in ["413", "415", "422"] {
                assert!(responses.contains_key(status), "{label}: no {status}");
            }
            let content = &op["requestBody"]["content"]["application/json"];
            assert!(
                content.get("example").is_some()
                    || content.get("examples").is_some()
                    || schema_has_example(&doc, &content["schema"]),
                "{label}: the request body has no example"
            );
        }
        let open = [
            "/api/v1/auth/register",
            "/api/v1/auth/login",
            "/api/v1/auth/refresh",
            "/api/v1/auth/logout",
            "/api/v1/auth/console/login",
            "/api/v1/auth/console/refresh",
            "/api/v1/auth/console/logout",
        ];
        if path.starts_with("/api/v1/") && !open.contains(&path.as_str()) {
            assert!(secured, "{label}: a protected route without security");
        }
    }
}

fn schema_has_example(doc: &Value, schema: &Value) -> bool {
    if schema.get("example").is_some() || schema.get("examples").is_some() {
        return true;
    }
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            schema_has_example(doc, &doc["components"]["schemas"][name])
        }
        None => false,
    }
}

#[test]
fn creates_link_to_what_they_created() {
    let doc = document();
    let ops = operations(&doc);
    let ids: BTreeSet<&str> = ops
        .iter()
        .filter_map(|(_, _, op)| op["operationId"].as_str())
        .collect();
    for (create, targets) in [
        (
            "create_tenant",
            &["get_tenant", "update_tenant", "delete_tenant"][..],
        ),
        (
            "create_project",
            &["get_project", "update_project", "delete_project"],
        ),
        ("create_user", &["get_user", "update_user", "delete_user"]),
        (
            "create_provider",
            &["get_provider", "update_provider", "delete_provider"],
        ),
        (
            "create_database",
            &["get_database", "update_database", "delete_database"],
        ),
        ("create_api_key", &["revoke_api_key"]),
    ] {
        let (_, _, op) = ops
            .iter()
            .find(|(_, _, op)| op["operationId"] == create)
            .unwrap_or_else(|| panic!("no {create}"));
        let links = op["responses"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(s, _)| s.starts_with('2'))
            .map(|(_, r)| &r["links"])
            .unwrap();
        for t in targets {
            assert_eq!(links[*t]["operationId"], *t, "{create} links to {t}");
        }
        for link in links.as_object().unwrap().values() {
            assert!(
                ids.contains(link["operationId"].as_str().unwrap()),
                "{create}: a link to an unknown operation {link}"
            );
        }
    }
}

/// The console's API client is generated from `web/openapi.json` (`npm run gen`); that copy must be
/// the document the server serves. `UPDATE_OPENAPI=1 cargo test -p server --test openapi_document`
/// rewrites it after an API change (then run `npm run gen` in web/).
#[test]
fn the_console_client_is_generated_from_the_served_document() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/openapi.json");
    let served = document();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        let text = serde_json::to_string_pretty(&served).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
    }
    let copy: Value = serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap();
    assert!(
        copy == served,
        "web/openapi.json is stale: run `UPDATE_OPENAPI=1 cargo test -p server --test openapi_document`, then `npm run gen` in web/"
    );
}
