//! CloudWatch in each of its protocols: the AWS SDK for Rust (which sends Smithy RPC v2 CBOR),
//! the AWS CLI (AWS JSON 1.0), and the query protocol and CBOR on raw HTTP where the wire form
//! itself is checked. Every protocol reads back the datapoints one of them wrote, and answers a
//! malformed request with its own error form.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    Dimension, DimensionFilter, Metric, MetricDataQuery, MetricDatum, MetricStat, StandardUnit, Statistic,
};
use serde_json::{Value, json};

use crate::common::{AwsCli, InProcess, sdk_config, unique};

/// The account and region every request here is scoped to (the SDK's access key is the account).
const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

/// `--auth any` reads only the credential scope: raw requests name the SDK's account and region.
fn scope_header() -> (&'static str, String) {
    (
        "Authorization",
        format!(
            "AWS4-HMAC-SHA256 Credential={ACCOUNT}/20261206/{REGION}/monitoring/aws4_request, SignedHeaders=host, Signature=0"
        ),
    )
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

/// One raw HTTP/1.1 POST; `Connection: close`, the length and the scope are added.
fn post(url: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    exchange(url, "POST", path, headers, body)
}

fn get(url: &str, target: &str) -> Answer {
    exchange(url, "GET", target, &[], b"")
}

fn exchange(url: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    let (auth, scope) = scope_header();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}: {scope}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(": ")).map(|(n, v)| (n.to_owned(), v.to_owned())).collect();
    let mut body = raw[split + 4..].to_vec();
    if headers.iter().any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked")) {
        body = unchunk(&body);
    }
    Answer { status, headers, body }
}

fn unchunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..line_end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[line_end + 2..line_end + 2 + size]);
        raw = &raw[line_end + 2 + size + 2..];
    }
}

fn query(url: &str, params: &[(&str, &str)]) -> Answer {
    let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    post(url, "/", &[("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")], body.as_bytes())
}

fn cbor(url: &str, operation: &str, body: &[u8]) -> Answer {
    post(
        url,
        &format!("/service/GraniteServiceVersion20100801/operation/{operation}"),
        &[("Content-Type", "application/cbor"), ("Accept", "application/cbor"), ("Smithy-Protocol", "rpc-v2-cbor")],
        body,
    )
}

/// A CBOR data item as JSON, to compare answers (a tag is its content: tag 1 its epoch seconds).
fn cbor_to_json(d: &mut minicbor::Decoder<'_>) -> Value {
    use minicbor::data::Type;
    match d.datatype().unwrap() {
        Type::Map | Type::MapIndef => {
            let len = d.map().unwrap();
            let mut map = serde_json::Map::new();
            let mut i = 0;
            loop {
                if len.is_some_and(|n| i == n) {
                    break;
                }
                if len.is_none() && d.datatype().unwrap() == Type::Break {
                    d.skip().unwrap();
                    break;
                }
                let key = d.str().unwrap().to_owned();
                map.insert(key, cbor_to_json(d));
                i += 1;
            }
            Value::Object(map)
        }
        Type::Array | Type::ArrayIndef => {
            let len = d.array().unwrap();
            let mut items = Vec::new();
            let mut i = 0;
            loop {
                if len.is_some_and(|n| i == n) {
                    break;
                }
                if len.is_none() && d.datatype().unwrap() == Type::Break {
                    d.skip().unwrap();
                    break;
                }
                items.push(cbor_to_json(d));
                i += 1;
            }
            Value::Array(items)
        }
        Type::Tag => {
            let tag = d.tag().unwrap().as_u64();
            json!({ "tag": tag, "value": cbor_to_json(d) })
        }
        Type::String => json!(d.str().unwrap()),
        Type::F16 | Type::F32 | Type::F64 => json!(d.f64().unwrap()),
        Type::Bool => json!(d.bool().unwrap()),
        _ => json!(d.i64().unwrap()),
    }
}

fn cbor_json(body: &[u8]) -> Value {
    let mut d = minicbor::Decoder::new(body);
    let value = cbor_to_json(&mut d);
    assert_eq!(d.position(), body.len(), "one data item");
    value
}

/// The text of the first `<tag>…</tag>` in `xml`.
fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(&xml[start..end])
}

/// A whole minute, five minutes ago (so that any period and the service's two-week window fit).
fn minute_ago() -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    now - now % 60 - 300
}

fn iso(secs: i64) -> String {
    DateTime::from_secs(secs).fmt(aws_smithy_types::date_time::Format::DateTime).unwrap()
}

/// Writes three samples (1, 2, 3) of `Requests{Endpoint=ep}` in `namespace` at `minute + 10 s`
/// with the SDK, and reads them back with the SDK.
async fn put_and_read_with_the_sdk(client: &aws_sdk_cloudwatch::Client, namespace: &str, minute: i64) {
    let datum = |value: f64| {
        MetricDatum::builder()
            .metric_name("Requests")
            .dimensions(Dimension::builder().name("Endpoint").value("ep").build())
            .timestamp(DateTime::from_secs(minute + 10))
            .value(value)
            .unit(StandardUnit::Count)
            .build()
    };
    client
        .put_metric_data()
        .namespace(namespace)
        .metric_data(datum(1.0))
        .metric_data(datum(2.0))
        .metric_data(datum(3.0))
        .send()
        .await
        .expect("put-metric-data");

    let stats = client
        .get_metric_statistics()
        .namespace(namespace)
        .metric_name("Requests")
        .dimensions(Dimension::builder().name("Endpoint").value("ep").build())
        .start_time(DateTime::from_secs(minute))
        .end_time(DateTime::from_secs(minute + 60))
        .period(60)
        .statistics(Statistic::Sum)
        .statistics(Statistic::SampleCount)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .expect("get-metric-statistics");
    let points = stats.datapoints();
    assert_eq!(points.len(), 1, "{points:?}");
    assert_eq!(points[0].timestamp(), Some(&DateTime::from_secs(minute)));
    assert_eq!((points[0].sum(), points[0].sample_count(), points[0].maximum()), (Some(6.0), Some(3.0), Some(3.0)));
    assert_eq!(points[0].unit(), Some(&StandardUnit::Count));

    // GetMetricData: a list of timestamps (tag 1 inside an array) and values.
    let metric = Metric::builder()
        .namespace(namespace)
        .metric_name("Requests")
        .dimensions(Dimension::builder().name("Endpoint").value("ep").build())
        .build();
    let data = client
        .get_metric_data()
        .metric_data_queries(
            MetricDataQuery::builder()
                .id("q1")
                .metric_stat(MetricStat::builder().metric(metric).period(60).stat("Average").build())
                .build(),
        )
        .start_time(DateTime::from_secs(minute))
        .end_time(DateTime::from_secs(minute + 60))
        .send()
        .await
        .expect("get-metric-data");
    let result = &data.metric_data_results()[0];
    assert_eq!(result.id(), Some("q1"));
    assert_eq!(result.timestamps(), [DateTime::from_secs(minute)]);
    assert_eq!(result.values(), [2.0]);

    let listed = client.list_metrics().namespace(namespace).send().await.expect("list-metrics");
    let metrics = listed.metrics();
    assert_eq!(metrics.len(), 1, "{metrics:?}");
    assert_eq!(metrics[0].metric_name(), Some("Requests"));
    assert_eq!(metrics[0].dimensions()[0].value(), Some("ep"));
    let filtered = client
        .list_metrics()
        .namespace(namespace)
        .dimensions(DimensionFilter::builder().name("Endpoint").value("other").build())
        .send()
        .await
        .expect("list-metrics filtered");
    assert!(filtered.metrics().is_empty());
}

#[tokio::test]
async fn every_protocol_reads_the_datapoints_the_rust_sdk_put() {
    let smemu = InProcess::start().await;
    let client = aws_sdk_cloudwatch::Client::new(&sdk_config(&smemu.url, ACCOUNT, REGION).await);
    let namespace = unique("Smemu/Protocols");
    let minute = minute_ago();
    put_and_read_with_the_sdk(&client, &namespace, minute).await;

    // The query protocol: form in, XML out.
    let url = smemu.url.clone();
    let (ns, start, end) = (namespace.clone(), iso(minute), iso(minute + 60));
    let answer = tokio::task::spawn_blocking(move || {
        query(
            &url,
            &[
                ("Action", "GetMetricStatistics"),
                ("Version", "2010-08-01"),
                ("Namespace", &ns),
                ("MetricName", "Requests"),
                ("Dimensions.member.1.Name", "Endpoint"),
                ("Dimensions.member.1.Value", "ep"),
                ("StartTime", &start),
                ("EndTime", &end),
                ("Period", "60"),
                ("Statistics.member.1", "Sum"),
                ("Statistics.member.2", "SampleCount"),
            ],
        )
    })
    .await
    .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.header("content-type"), Some("text/xml"));
    let xml = answer.text();
    assert!(
        xml.starts_with(
            "<GetMetricStatisticsResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\"><GetMetricStatisticsResult>"
        ),
        "{xml}"
    );
    let point = element(xml, "Datapoints").and_then(|d| element(d, "member")).expect("one datapoint");
    assert_eq!(element(point, "Sum").map(str::parse::<f64>), Some(Ok(6.0)), "{xml}");
    assert_eq!(element(point, "SampleCount").map(str::parse::<f64>), Some(Ok(3.0)), "{xml}");
    assert_eq!(element(point, "Timestamp"), Some(iso(minute).as_str()), "{xml}");
    assert_eq!(element(xml, "RequestId"), answer.header("x-amzn-requestid"));

    // The query protocol's deepest names (nine segments), and a list of timestamps in XML.
    let url = smemu.url.clone();
    let (ns, start, end) = (namespace.clone(), iso(minute), iso(minute + 60));
    let answer = tokio::task::spawn_blocking(move || {
        query(
            &url,
            &[
                ("Action", "GetMetricData"),
                ("Version", "2010-08-01"),
                ("MetricDataQueries.member.1.Id", "q1"),
                ("MetricDataQueries.member.1.MetricStat.Metric.Namespace", &ns),
                ("MetricDataQueries.member.1.MetricStat.Metric.MetricName", "Requests"),
                ("MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Name", "Endpoint"),
                ("MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Value", "ep"),
                ("MetricDataQueries.member.1.MetricStat.Period", "60"),
                ("MetricDataQueries.member.1.MetricStat.Stat", "Sum"),
                ("StartTime", &start),
                ("EndTime", &end),
            ],
        )
    })
    .await
    .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    let xml = answer.text();
    // (`element` finds the first closing tag, so nested `<member>`s are read through their list.)
    let result = element(xml, "MetricDataResults").expect("results");
    assert_eq!(element(result, "Id"), Some("q1"), "{xml}");
    assert_eq!(element(result, "Timestamps").and_then(|t| element(t, "member")), Some(iso(minute).as_str()), "{xml}");
    assert_eq!(element(result, "Values").and_then(|v| element(v, "member")).map(str::parse::<f64>), Some(Ok(6.0)));

    // The older GET form of the query protocol (parameters in the URL).
    let url = smemu.url.clone();
    let target = format!("/?Action=ListMetrics&Version=2010-08-01&Namespace={}", namespace.replace('/', "%2F"));
    let answer = tokio::task::spawn_blocking(move || get(&url, &target)).await.unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(element(answer.text(), "MetricName"), Some("Requests"), "{}", answer.text());

    // Smithy RPC v2 CBOR on the wire: tag 1 timestamps, the protocol's headers.
    let mut e = minicbor::Encoder::new(Vec::new());
    e.map(7).unwrap();
    e.str("Namespace").unwrap().str(&namespace).unwrap();
    e.str("MetricName").unwrap().str("Requests").unwrap();
    e.str("Dimensions").unwrap().array(1).unwrap().map(2).unwrap();
    e.str("Name").unwrap().str("Endpoint").unwrap().str("Value").unwrap().str("ep").unwrap();
    e.str("StartTime").unwrap().tag(minicbor::data::Tag::new(1)).unwrap().i64(minute).unwrap();
    e.str("EndTime").unwrap().tag(minicbor::data::Tag::new(1)).unwrap().f64((minute + 60) as f64).unwrap();
    e.str("Period").unwrap().u8(60).unwrap();
    e.str("Statistics").unwrap().array(1).unwrap().str("Sum").unwrap();
    let (url, body) = (smemu.url.clone(), e.into_writer());
    let answer = tokio::task::spawn_blocking(move || cbor(&url, "GetMetricStatistics", &body)).await.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("smithy-protocol"), Some("rpc-v2-cbor"));
    assert_eq!(answer.header("content-type"), Some("application/cbor"));
    let out = cbor_json(&answer.body);
    assert_eq!(out["Datapoints"][0]["Sum"], json!(6.0), "{out}");
    assert_eq!(out["Datapoints"][0]["Timestamp"], json!({ "tag": 1, "value": minute as f64 }), "{out}");

    // AWS JSON 1.0, as the AWS CLI sends it.
    let url = smemu.url.clone();
    let (ns, start, end) = (namespace.clone(), iso(minute), iso(minute + 60));
    let out = tokio::task::spawn_blocking(move || {
        AwsCli::new(&url).with_identity(ACCOUNT, REGION).run(
            "cloudwatch",
            &[
                "get-metric-statistics",
                "--namespace",
                &ns,
                "--metric-name",
                "Requests",
                "--dimensions",
                "Name=Endpoint,Value=ep",
                "--start-time",
                &start,
                "--end-time",
                &end,
                "--period",
                "60",
                "--statistics",
                "Sum",
                "Maximum",
            ],
        )
    })
    .await
    .unwrap()
    .json();
    assert_eq!(out["Datapoints"][0]["Sum"], json!(6.0), "{out}");
    assert_eq!(out["Datapoints"][0]["Maximum"], json!(3.0), "{out}");

    smemu.shutdown().await;
}

#[tokio::test]
async fn malformed_requests_get_each_protocols_error_form() {
    let smemu = InProcess::start().await;
    let client = aws_sdk_cloudwatch::Client::new(&sdk_config(&smemu.url, ACCOUNT, REGION).await);

    // The SDK reads the code from `x-amzn-query-error`: a constraint violation is ValidationError,
    // a missing member MissingParameter, as the service answers them.
    let err = client
        .get_metric_statistics()
        .namespace("ns")
        .metric_name("m")
        .start_time(DateTime::from_secs(minute_ago()))
        .end_time(DateTime::from_secs(minute_ago() + 60))
        .period(0)
        .statistics(Statistic::Sum)
        .send()
        .await
        .expect_err("period 0");
    assert_eq!(err.code(), Some("ValidationError"), "{err:?}");
    let err = client.list_metrics().namespace("").send().await.expect_err("empty namespace");
    assert_eq!(err.code(), Some("ValidationError"), "{err:?}");
    let err = client.put_metric_data().send().await.expect_err("no namespace");
    assert_eq!(err.code(), Some("MissingParameter"), "{err:?}");
    assert_eq!(err.message(), Some("The parameter Namespace is required."));

    let url = smemu.url.clone();
    tokio::task::spawn_blocking(move || {
        // Query: a value of the wrong type, an unknown action, an absurd index.
        let answer = query(&url, &[("Action", "GetMetricStatistics"), ("Version", "2010-08-01"), ("Period", "sixty")]);
        assert_eq!(answer.status, 400);
        let xml = answer.text();
        assert!(
            xml.starts_with("<ErrorResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\"><Error>"),
            "{xml}"
        );
        assert_eq!(element(xml, "Type"), Some("Sender"));
        assert_eq!(element(xml, "Code"), Some("InvalidParameterValue"));
        assert_eq!(element(xml, "Message"), Some("The value sixty for parameter Period is invalid."));
        assert_eq!(element(xml, "RequestId").map(str::len), Some(36));
        let answer = query(&url, &[("Action", "ListDashboards"), ("Version", "2010-08-01")]);
        assert_eq!((answer.status, element(answer.text(), "Code")), (400, Some("InvalidAction")));
        let answer = query(&url, &[("Version", "2010-08-01")]);
        assert_eq!((answer.status, element(answer.text(), "Code")), (400, Some("MissingAction")));
        let answer = query(&url, &[("Action", "ListMetrics"), ("Dimensions.member.0.Name", "x")]);
        assert_eq!((answer.status, element(answer.text(), "Code")), (400, Some("InvalidQueryParameter")));
        // A huge position is refused; a sparse one names one item (nothing is allocated for the
        // positions before it).
        let answer = query(
            &url,
            &[("Action", "ListMetrics"), ("Namespace", "ns"), ("Dimensions.member.999999999.Name", "Endpoint")],
        );
        assert_eq!((answer.status, element(answer.text(), "Code")), (400, Some("InvalidQueryParameter")));
        let answer = query(
            &url,
            &[("Action", "ListMetrics"), ("Namespace", "ns"), ("Dimensions.member.50000.Name", "Endpoint")],
        );
        assert_eq!(answer.status, 200, "{}", answer.text());
        // Validation through the query protocol: the same code and text as the other protocols.
        let answer = query(&url, &[("Action", "PutMetricData"), ("MetricData.member.1.Value", "1")]);
        assert_eq!((answer.status, element(answer.text(), "Code")), (400, Some("MissingParameter")));

        // AWS JSON 1.0: a member of the wrong type, answered in JSON with the query code beside it.
        let answer = post(
            &url,
            "/",
            &[
                ("Content-Type", "application/x-amz-json-1.0"),
                ("X-Amz-Target", "GraniteServiceVersion20100801.GetMetricStatistics"),
            ],
            b"{\"Namespace\": \"ns\", \"Period\": \"sixty\"}",
        );
        assert_eq!(answer.status, 400);
        assert_eq!(answer.header("content-type"), Some("application/x-amz-json-1.0"));
        assert_eq!(answer.header("x-amzn-query-error"), Some("SerializationException;Sender"));
        let error: Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(error["__type"], "SerializationException", "{error}");

        // CBOR: not CBOR at all, and a truncated map, are SerializationException in CBOR.
        for body in [&b"{\"Namespace\": \"ns\"}"[..], &[0xa1, 0x69][..]] {
            let answer = cbor(&url, "ListMetrics", body);
            assert_eq!(answer.status, 400);
            assert_eq!(answer.header("smithy-protocol"), Some("rpc-v2-cbor"));
            assert_eq!(answer.header("content-type"), Some("application/cbor"));
            assert_eq!(answer.header("x-amzn-query-error"), Some("SerializationException;Sender"));
            let error = cbor_json(&answer.body);
            assert_eq!(error["__type"], "com.amazon.coral.service#SerializationException", "{error}");
            assert!(error["message"].as_str().unwrap().contains("CBOR"), "{error}");
        }
        // Nesting past the bound is refused, not recursed on.
        let mut deep = vec![0xa1, 0x61, b'X'];
        deep.extend(std::iter::repeat_n(0x81, 10_000));
        deep.push(0x00);
        let answer = cbor(&url, "ListMetrics", &deep);
        assert_eq!(answer.status, 400);
        assert!(cbor_json(&answer.body)["message"].as_str().unwrap().contains("levels deep"));
        // An operation CloudWatch has but smemu does not serve.
        let answer = cbor(&url, "ListDashboards", &[0xa0]);
        assert_eq!(answer.status, 404);
        assert_eq!(answer.header("x-amzn-query-error"), Some("InvalidAction;Sender"));
    })
    .await
    .unwrap();

    smemu.shutdown().await;
}

/// The SDKs gzip PutMetricData bodies past 10 KiB (its `requestCompression` trait): a large put
/// through the SDK, then one gzipped query request, land in the store.
#[tokio::test]
async fn compressed_put_metric_data_is_read() {
    let smemu = InProcess::start().await;
    let client = aws_sdk_cloudwatch::Client::new(&sdk_config(&smemu.url, ACCOUNT, REGION).await);
    let namespace = unique("Smemu/Gzip");
    let minute = minute_ago();
    let mut put = client.put_metric_data().namespace(&namespace);
    for i in 0..200 {
        put = put.metric_data(
            MetricDatum::builder()
                .metric_name("Big")
                .dimensions(Dimension::builder().name("Padding").value(format!("{i:0>60}")).build())
                .timestamp(DateTime::from_secs(minute + 1))
                .value(1.0)
                .build(),
        );
    }
    put.send().await.expect("a put over 10 KiB, compressed by the SDK");
    let listed = client.list_metrics().namespace(&namespace).send().await.expect("list");
    assert_eq!(listed.metrics().len(), 200);

    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("Action", "PutMetricData"),
            ("Namespace", namespace.as_str()),
            ("MetricData.member.1.MetricName", "Zipped"),
            ("MetricData.member.1.Value", "2"),
        ])
        .finish();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let url = smemu.url.clone();
    let answer = tokio::task::spawn_blocking(move || {
        post(&url, "/", &[("Content-Type", "application/x-www-form-urlencoded"), ("Content-Encoding", "gzip")], &gz)
    })
    .await
    .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(answer.text().starts_with("<PutMetricDataResponse"), "{}", answer.text());
    assert!(!answer.text().contains("PutMetricDataResult"));
    let listed = client.list_metrics().namespace(&namespace).metric_name("Zipped").send().await.expect("list");
    assert_eq!(listed.metrics().len(), 1);
    smemu.shutdown().await;
}

/// botocore gzips PutMetricData bodies of 10 KiB or more in AWS JSON 1.0 too; and `--auth strict`
/// checks CloudWatch's requests against its signing name (`monitoring`) in every protocol.
#[test]
fn the_cli_puts_a_large_compressed_body_and_strict_mode_checks_cloudwatch_signatures() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("access-keys");
    std::fs::write(&keys, "AKIDSMEMUTEST smemu-secret 123456789012\n").unwrap();
    let smemu = crate::common::Smemu::start_with(
        &tmp.path().join("data"),
        &["--auth", "strict", "--access-keys", keys.to_str().unwrap()],
    );
    let aws = smemu.aws();
    let namespace = unique("Smemu/Strict");
    let minute = minute_ago();
    let data: Vec<Value> = (0..150)
        .map(|i| {
            json!({"MetricName": "Big", "Value": 1.0, "Timestamp": iso(minute + 1),
                   "Dimensions": [{"Name": "Padding", "Value": format!("{i:0>60}")}]})
        })
        .collect();
    let file = tmp.path().join("data.json");
    std::fs::write(&file, serde_json::to_vec(&data).unwrap()).unwrap();
    assert!(std::fs::metadata(&file).unwrap().len() > 10 * 1024);
    let put = aws.run(
        "cloudwatch",
        &["put-metric-data", "--namespace", &namespace, "--metric-data", &format!("file://{}", file.display())],
    );
    assert!(put.success, "{}", put.stderr);
    let listed = aws.run("cloudwatch", &["list-metrics", "--namespace", &namespace]).json();
    assert_eq!(listed["Metrics"].as_array().map(Vec::len), Some(150));

    // The query protocol in strict mode: the raw request's made-up signature (no X-Amz-Date) is
    // refused in XML, with the query protocol's name for it.
    let answer = query(&smemu.url, &[("Action", "ListMetrics"), ("Namespace", &namespace)]);
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert_eq!(element(answer.text(), "Code"), Some("IncompleteSignature"));

    // The Rust SDK (CBOR), signed with the right and the wrong secret.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let config = sdk_config(&smemu.url, "AKIDSMEMUTEST", REGION).await;
        let client = aws_sdk_cloudwatch::Client::new(&config);
        let listed = client.list_metrics().namespace(&namespace).metric_name("Big").send().await.expect("signed");
        assert_eq!(listed.metrics().len(), 150);
        let wrong = aws_credential_types::Credentials::new("AKIDSMEMUTEST", "wrong", None, None, "test");
        let config = config
            .into_builder()
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(wrong))
            .build();
        let err = aws_sdk_cloudwatch::Client::new(&config).list_metrics().send().await.expect_err("wrong secret");
        assert_eq!(err.code(), Some("SignatureDoesNotMatch"), "{err:?}");
    });
}
