//! `POST /invocations`: what each role answers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::{Request, Response, StatusCode};

use crate::reply;
use crate::settings::{Role, Settings, env, env_u64};

const CUSTOM_ATTRIBUTES: &str = "x-amzn-sagemaker-custom-attributes";
/// Files larger than this are listed by `echo-env` without their contents.
const SMALL_FILE: u64 = 4096;

pub async fn answer(settings: &Settings, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => return reply(StatusCode::BAD_REQUEST, format!("cannot read the body: {err}"), None),
    };
    let content_type =
        parts.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/octet-stream").to_owned();
    let out_type = env("SMEMU_TEST_OUTPUT_CONTENT_TYPE").unwrap_or_else(|| content_type.clone());
    let mut response = match settings.role {
        Role::Transform => reply(StatusCode::OK, tag_lines(&body, &settings.tag), Some(&out_type)),
        Role::Predict => reply(StatusCode::OK, sum_csv_lines(&body), Some("text/csv")),
        Role::EchoEnv => {
            let answer = echo_env(settings, &parts.headers, &body);
            reply(StatusCode::OK, answer.to_string(), Some("application/json"))
        }
        Role::Forward => crate::forward::forward(&content_type, body).await,
        Role::Fail => {
            let status = env("SMEMU_TEST_FAIL_STATUS").and_then(|s| s.parse().ok()).unwrap_or(500);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            reply(status, env("SMEMU_TEST_FAIL_MESSAGE").unwrap_or_else(|| "model failure".into()), Some("text/plain"))
        }
        Role::Slow => {
            tokio::time::sleep(Duration::from_millis(env_u64("SMEMU_TEST_DELAY_MS", 2000))).await;
            reply(StatusCode::OK, body, Some(&out_type))
        }
        Role::Flaky => flaky(body, &out_type).await,
        Role::Echo | Role::Crash | Role::PingFail | Role::Stream => reply(StatusCode::OK, body, Some(&out_type)),
    };
    if let Some(attributes) = parts.headers.get(CUSTOM_ATTRIBUTES) {
        response.headers_mut().insert(CUSTOM_ATTRIBUTES, attributes.clone());
    }
    response
}

/// How many invocations `flaky` has answered: its errors are spread evenly, not drawn at random,
/// so a test knows how many of N calls fail.
static FLAKY_CALLS: AtomicU64 = AtomicU64::new(0);

/// A "bad model" whose quality the environment sets: `SMEMU_TEST_ERROR_PERCENT` (0–100, default 100) of
/// the answers are `SMEMU_TEST_FAIL_STATUS` (default 500), every answer waits `SMEMU_TEST_DELAY_MS`
/// (default 0) first; the rest echo the body.
async fn flaky(body: Bytes, out_type: &str) -> Response<Full<Bytes>> {
    let delay = env_u64("SMEMU_TEST_DELAY_MS", 0);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let percent = env_u64("SMEMU_TEST_ERROR_PERCENT", 100).min(100);
    let call = FLAKY_CALLS.fetch_add(1, Ordering::Relaxed);
    if fails(call, percent) {
        let status = env("SMEMU_TEST_FAIL_STATUS").and_then(|s| s.parse().ok()).unwrap_or(500);
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return reply(status, "flaky model failure", Some("text/plain"));
    }
    reply(StatusCode::OK, body, Some(out_type))
}

/// Whether call `n` (from 0) fails when `percent` of the calls should: the failures of every 100
/// consecutive calls are exactly `percent`, spread over them.
fn fails(n: u64, percent: u64) -> bool {
    (n + 1) * percent / 100 > n * percent / 100
}

/// `L` -> `L|tag` for every line, keeping the line structure (a final newline stays, none is added).
fn tag_lines(body: &[u8], tag: &str) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out = String::with_capacity(text.len() + tag.len() + 1);
    for line in text.split_inclusive('\n') {
        let (content, newline) = match line.strip_suffix('\n') {
            Some(content) => (content, "\n"),
            None => (line, ""),
        };
        // Keep CRLF lines CRLF: the tag goes before the carriage return.
        let (content, cr) = content.strip_suffix('\r').map_or((content, ""), |c| (c, "\r"));
        out.push_str(content);
        out.push('|');
        out.push_str(tag);
        out.push_str(cr);
        out.push_str(newline);
    }
    out
}

/// One number per CSV line: the sum of its numeric columns (non-numeric columns are skipped).
fn sum_csv_lines(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.split(',').filter_map(|c| c.trim().parse::<f64>().ok()).sum::<f64>().to_string() + "\n")
        .collect()
}

fn echo_env(settings: &Settings, headers: &hyper::HeaderMap, body: &[u8]) -> serde_json::Value {
    let extra: Vec<String> = env("SMEMU_TEST_ECHO_VARS")
        .map(|names| names.split(',').map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).collect())
        .unwrap_or_default();
    let vars: serde_json::Map<String, serde_json::Value> = std::env::vars()
        .filter(|(k, _)| k.starts_with("SAGEMAKER_") || k.starts_with("SMEMU_") || k == "HOSTNAME" || extra.contains(k))
        .map(|(k, v)| (k, v.into()))
        .collect();
    // hyper keeps header names lowercased; repeated headers are joined as HTTP allows.
    let mut received = serde_json::Map::new();
    for name in headers.keys() {
        let values: Vec<String> =
            headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).collect();
        received.insert(name.as_str().to_owned(), values.join(", ").into());
    }
    serde_json::json!({
        "env": vars,
        "hostname": settings.hostname,
        "headers": received,
        "model_files": model_files(std::path::Path::new("/opt/ml/model")),
        "body": String::from_utf8_lossy(body),
    })
}

/// Files under `root` (paths as seen in the container), with the contents of small ones.
fn model_files(root: &std::path::Path) -> serde_json::Value {
    let mut files = serde_json::Map::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(path);
            } else {
                let content = (meta.len() <= SMALL_FILE)
                    .then(|| std::fs::read(&path).ok())
                    .flatten()
                    .map(|c| String::from_utf8_lossy(&c).into_owned());
                files.insert(path.display().to_string(), content.map_or(serde_json::Value::Null, Into::into));
            }
        }
    }
    files.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flaky_fails_exactly_the_asked_share_of_every_hundred_calls() {
        for percent in [0, 1, 10, 33, 50, 100] {
            let failed = (0..100).filter(|&n| fails(n, percent)).count() as u64;
            assert_eq!(failed, percent, "percent {percent}");
            let next = (100..200).filter(|&n| fails(n, percent)).count() as u64;
            assert_eq!(next, percent, "percent {percent}, second hundred");
        }
        assert!(fails(0, 100) && !fails(0, 0));
    }

    #[test]
    fn tags_every_line_and_keeps_the_final_newline() {
        assert_eq!(tag_lines(b"x", "a"), "x|a");
        assert_eq!(tag_lines(b"x\ny\n", "b"), "x|b\ny|b\n");
        assert_eq!(tag_lines(b"x\r\ny", "c"), "x|c\r\ny|c");
        assert_eq!(tag_lines(b"", "c"), "");
        assert_eq!(tag_lines(tag_lines(b"x\n", "a").as_bytes(), "b"), "x|a|b\n");
    }

    #[test]
    fn sums_numeric_columns_per_line() {
        assert_eq!(sum_csv_lines(b"1,2,3\n4.5,x,0.5\n\n"), "6\n5\n");
        assert_eq!(sum_csv_lines(b"7"), "7\n");
    }

    #[test]
    fn lists_model_files_with_small_contents() {
        let dir = std::env::temp_dir().join(format!("smemu-testmodel-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/a.txt"), "hello").unwrap();
        std::fs::write(dir.join("big.bin"), vec![b'x'; 5000]).unwrap();
        let files = model_files(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(files[dir.join("sub/a.txt").display().to_string()], "hello");
        assert!(files[dir.join("big.bin").display().to_string()].is_null());
    }
}
