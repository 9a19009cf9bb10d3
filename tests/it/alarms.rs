//! CloudWatch metric alarms end to end: an alarm on a real endpoint's `Invocation5XXErrors`
//! (the test image's `flaky` role) driven through the AWS CLI (AWS JSON 1.0), that goes to ALARM
//! on errors, stays there while data is missing (`ignore`), goes back to OK once a fixed model
//! answers, keeps its history, and survives a restart; the AWS SDK for Rust (RPC v2 CBOR) on a
//! metric it puts itself; the query protocol on raw HTTP; and the service's errors.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, MetricDatum, StateValue, Statistic};
use serde_json::{Value, json};

use crate::common::{AwsCli, InProcess, Smemu, TEST_IMAGE, eventually, sdk_config, unique};

/// The alarm `name` as `describe-alarms` answers it.
fn describe(aws: &AwsCli, name: &str) -> Value {
    let answer = aws.run("cloudwatch", &["describe-alarms", "--alarm-names", name]).json();
    let alarms = answer["MetricAlarms"].as_array().unwrap();
    assert_eq!(alarms.len(), 1, "{answer}");
    alarms[0].clone()
}

fn history(aws: &AwsCli, name: &str, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["describe-alarm-history", "--alarm-name", name];
    args.extend(extra);
    aws.run("cloudwatch", &args).json()["AlarmHistoryItems"].as_array().unwrap().clone()
}

/// Invokes `endpoint` once a second (through the CLI) until the alarm is in `state`; the time it took.
fn invoke_until(aws: &AwsCli, endpoint: &str, alarm: &str, state: &str, fails: bool, secs: u64) -> Value {
    let started = Instant::now();
    eventually(secs, &format!("the alarm to go {state}"), || {
        let (out, _) = aws.invoke(endpoint, "ping", &[]);
        assert_eq!(out.success, !fails, "{}", out.stderr);
        let described = describe(aws, alarm);
        (described["StateValue"] == state).then_some(described)
    });
    eprintln!("{alarm} went {state} after {:?}", started.elapsed());
    describe(aws, alarm)
}

#[test]
fn an_alarm_on_5xx_errors_fires_recovers_keeps_its_history_and_survives_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let mut smemu = Smemu::start_in(&data_dir);
    let aws = smemu.aws();
    let endpoint = unique("alarm-ep");
    let bad = json!([{"Image": TEST_IMAGE,
        "Environment": {"SMEMU_TEST_ROLE": "flaky", "SMEMU_TEST_ERROR_PERCENT": "100"}}]);
    aws.deploy(&endpoint, &bad, &[], 1);
    let alarm = unique("errors");
    let dims = [format!("Name=EndpointName,Value={endpoint}"), "Name=VariantName,Value=AllTraffic".to_owned()];
    let put = aws.run(
        "cloudwatch",
        &[
            "put-metric-alarm",
            "--alarm-name",
            &alarm,
            "--alarm-description",
            "5xx from the new model",
            "--namespace",
            "AWS/SageMaker",
            "--metric-name",
            "Invocation5XXErrors",
            "--dimensions",
            &dims[0],
            &dims[1],
            "--statistic",
            "Sum",
            "--period",
            "10",
            "--evaluation-periods",
            "1",
            "--threshold",
            "0",
            "--comparison-operator",
            "GreaterThanThreshold",
            "--treat-missing-data",
            "ignore",
            "--alarm-actions",
            "arn:aws:sns:us-east-1:000000000000:oncall",
            "--tags",
            "Key=team,Value=ml",
        ],
    );
    assert!(put.success, "{}", put.stderr);
    let created = describe(&aws, &alarm);
    assert_eq!(created["StateValue"], "INSUFFICIENT_DATA", "{created}");
    assert_eq!(created["StateReason"], "Unchecked: Initial alarm creation");
    assert_eq!(created["AlarmArn"], format!("arn:aws:cloudwatch:us-east-1:000000000000:alarm:{alarm}"));
    assert_eq!((created["Period"].as_i64(), created["EvaluationPeriods"].as_i64()), (Some(10), Some(1)));
    assert_eq!(created["TreatMissingData"], "ignore");
    assert_eq!(created["AlarmActions"], json!(["arn:aws:sns:us-east-1:000000000000:oncall"]));
    assert_eq!(created["ActionsEnabled"], true);
    assert_eq!(created["Dimensions"][0], json!({"Name": "EndpointName", "Value": endpoint}));

    // Errors: ALARM within a couple of 10-second periods, with the service's reason.
    let fired = invoke_until(&aws, &endpoint, &alarm, "ALARM", true, 60);
    let reason = fired["StateReason"].as_str().unwrap();
    assert!(reason.starts_with("Threshold Crossed: 1 out of the last 1 datapoints ["), "{reason}");
    assert!(
        reason.ends_with(
            "was greater than the threshold (0.0) (minimum 1 datapoint for INSUFFICIENT_DATA -> ALARM transition)."
        ),
        "{reason}"
    );
    let data: Value = serde_json::from_str(fired["StateReasonData"].as_str().unwrap()).unwrap();
    assert_eq!(
        (data["version"].as_str(), data["statistic"].as_str(), data["period"].as_i64()),
        (Some("1.0"), Some("Sum"), Some(10))
    );
    assert!(data["recentDatapoints"][0].as_f64().unwrap() >= 1.0, "{data}");
    assert!(data["queryDate"].as_str().unwrap().ends_with("+0000"), "{data}");

    // The model is fixed by an update; no data while it happens keeps the alarm in ALARM
    // (`ignore`), and successful answers (Invocation5XXErrors of 0) bring it back to OK.
    let good = format!("{endpoint}-fixed");
    let echo = json!({"Image": TEST_IMAGE, "Environment": {"SMEMU_TEST_ROLE": "echo"}}).to_string();
    aws.sagemaker(&["create-model", "--model-name", &good, "--primary-container", &echo]).json();
    aws.create_config(&good, &good);
    aws.sagemaker(&["update-endpoint", "--endpoint-name", &endpoint, "--endpoint-config-name", &good]).json();
    aws.wait_in_service(&endpoint);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(describe(&aws, &alarm)["StateValue"], "ALARM", "missing data is ignored");
    let recovered = invoke_until(&aws, &endpoint, &alarm, "OK", false, 60);
    let reason = recovered["StateReason"].as_str().unwrap();
    assert!(reason.starts_with("Threshold Crossed: 1 out of the last 1 datapoints [0.0 ("), "{reason}");
    assert!(
        reason.ends_with("was not greater than the threshold (0.0) (minimum 1 datapoint for ALARM -> OK transition)."),
        "{reason}"
    );

    // History: newest first, the service's summaries; the filter keeps state updates.
    let items = history(&aws, &alarm, &[]);
    let summaries: Vec<&str> = items.iter().map(|i| i["HistorySummary"].as_str().unwrap()).collect();
    assert_eq!(
        summaries,
        [
            "Alarm updated from ALARM to OK".to_owned(),
            "Alarm updated from INSUFFICIENT_DATA to ALARM".to_owned(),
            format!("Alarm \"{alarm}\" created"),
        ]
    );
    assert_eq!(items[2]["HistoryItemType"], "ConfigurationUpdate");
    let created_data: Value = serde_json::from_str(items[2]["HistoryData"].as_str().unwrap()).unwrap();
    assert_eq!(created_data["type"], "Create");
    assert_eq!(created_data["createdAlarm"]["metricName"], "Invocation5XXErrors");
    let change: Value = serde_json::from_str(items[0]["HistoryData"].as_str().unwrap()).unwrap();
    assert_eq!(
        (change["oldState"]["stateValue"].as_str(), change["newState"]["stateValue"].as_str()),
        (Some("ALARM"), Some("OK"))
    );
    assert_eq!(change["newState"]["stateReasonData"]["statistic"], "Sum");
    assert_eq!(history(&aws, &alarm, &["--history-item-type", "StateUpdate"]).len(), 2);

    // SetAlarmState holds (missing data is ignored) until the next evaluation with data: once
    // the period of the last invocation has been judged, no data comes in until we invoke.
    std::thread::sleep(Duration::from_secs(13));
    let set = aws.run(
        "cloudwatch",
        &["set-alarm-state", "--alarm-name", &alarm, "--state-value", "ALARM", "--state-reason", "testing the pager"],
    );
    assert!(set.success, "{}", set.stderr);
    let forced = describe(&aws, &alarm);
    assert_eq!(
        (forced["StateValue"].as_str(), forced["StateReason"].as_str()),
        (Some("ALARM"), Some("testing the pager"))
    );
    assert_eq!(history(&aws, &alarm, &[])[0]["HistorySummary"], "Alarm updated from OK to ALARM");
    invoke_until(&aws, &endpoint, &alarm, "OK", false, 60);

    // A restart keeps the alarm, its state and its history.
    let before = describe(&aws, &alarm);
    smemu.stop();
    let smemu = Smemu::start_in(&data_dir);
    let aws = smemu.aws();
    let after = describe(&aws, &alarm);
    for field in
        ["AlarmArn", "StateValue", "StateReason", "StateReasonData", "Dimensions", "Threshold", "AlarmDescription"]
    {
        assert_eq!(after[field], before[field], "{field}");
    }
    assert_eq!(history(&aws, &alarm, &[]).len(), 5);

    // Deleted: gone, its history kept; a second delete is ResourceNotFound.
    assert!(aws.run("cloudwatch", &["delete-alarms", "--alarm-names", &alarm]).success);
    let listed = aws.run("cloudwatch", &["describe-alarms", "--alarm-names", &alarm]).json();
    assert_eq!(listed["MetricAlarms"], json!([]));
    assert_eq!(history(&aws, &alarm, &[])[0]["HistorySummary"], format!("Alarm \"{alarm}\" deleted"));
    aws.run("cloudwatch", &["delete-alarms", "--alarm-names", &alarm]).assert_error("ResourceNotFound", "not found");
}

#[test]
fn the_cli_pages_alarms_and_gets_the_service_errors() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let prefix = unique("page");
    let put = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "put-metric-alarm",
            "--alarm-name",
            name,
            "--namespace",
            "Shop",
            "--metric-name",
            "Orders",
            "--statistic",
            "Average",
            "--period",
            "60",
            "--evaluation-periods",
            "2",
            "--threshold",
            "5",
            "--comparison-operator",
            "LessThanThreshold",
        ];
        args.extend(extra);
        aws.run("cloudwatch", &args)
    };
    for i in 0..5 {
        assert!(put(&format!("{prefix}-{i}"), &[]).success);
    }
    // Pages of two, read to the end by the CLI's paginator.
    let all = aws.run("cloudwatch", &["describe-alarms", "--alarm-name-prefix", &prefix, "--page-size", "2"]).json();
    let names: Vec<&str> =
        all["MetricAlarms"].as_array().unwrap().iter().map(|a| a["AlarmName"].as_str().unwrap()).collect();
    assert_eq!(names, (0..5).map(|i| format!("{prefix}-{i}")).collect::<Vec<_>>());
    let one = aws.run("cloudwatch", &["describe-alarms", "--alarm-name-prefix", &prefix, "--max-items", "2"]).json();
    assert_eq!(one["MetricAlarms"].as_array().unwrap().len(), 2);
    assert!(one["NextToken"].is_string(), "{one}");
    let for_metric =
        aws.run("cloudwatch", &["describe-alarms-for-metric", "--namespace", "Shop", "--metric-name", "Orders"]).json();
    assert!(for_metric["MetricAlarms"].as_array().unwrap().len() >= 5);
    let by_state =
        aws.run("cloudwatch", &["describe-alarms", "--alarm-name-prefix", &prefix, "--state-value", "ALARM"]).json();
    assert_eq!(by_state["MetricAlarms"], json!([]));
    // Actions switched off and on: a configuration update each.
    let name = format!("{prefix}-0");
    assert!(aws.run("cloudwatch", &["disable-alarm-actions", "--alarm-names", &name]).success);
    assert_eq!(describe(&aws, &name)["ActionsEnabled"], false);
    assert!(aws.run("cloudwatch", &["enable-alarm-actions", "--alarm-names", &name]).success);
    assert_eq!(describe(&aws, &name)["ActionsEnabled"], true);
    let items = history(&aws, &name, &["--history-item-type", "ConfigurationUpdate"]);
    assert_eq!(items.len(), 3, "{items:?}");
    let updated: Value = serde_json::from_str(items[1]["HistoryData"].as_str().unwrap()).unwrap();
    assert_eq!(
        (updated["type"].as_str(), updated["originalUpdatedFields"]["actionsEnabled"].as_bool()),
        (Some("Update"), Some(true))
    );

    // The service's errors.
    put(&unique("bad"), &["--period", "45"])
        .assert_error("ValidationError", "Period must be 10, 20, 30 or a multiple of 60");
    put(&unique("bad"), &["--datapoints-to-alarm", "3"])
        .assert_error("ValidationError", "DatapointsToAlarm must be less than or equal to EvaluationPeriods");
    put(&unique("bad"), &["--period", "600", "--evaluation-periods", "145"]).assert_error(
        "ValidationError",
        "Metrics cannot be checked across more than a day (EvaluationPeriods * Period must be <= 86400)",
    );
    put(&unique("bad"), &["--extended-statistic", "p99"])
        .assert_error("InvalidParameterCombination", "Statistic and ExtendedStatistic are mutually exclusive");
    put(&unique("bad"), &["--treat-missing-data", "often"]).assert_error("ValidationError", "TreatMissingData");
    aws.run(
        "cloudwatch",
        &["set-alarm-state", "--alarm-name", &unique("none"), "--state-value", "OK", "--state-reason", "x"],
    )
    .assert_error("ResourceNotFound", "not found");
    aws.run(
        "cloudwatch",
        &[
            "set-alarm-state",
            "--alarm-name",
            &name,
            "--state-value",
            "OK",
            "--state-reason",
            "x",
            "--state-reason-data",
            "{nope",
        ],
    )
    .assert_error("InvalidFormat", "not valid JSON");
    aws.run("cloudwatch", &["describe-alarms", "--alarm-names", &name, "--alarm-name-prefix", &prefix])
        .assert_error("InvalidParameterCombination", "mutually exclusive");
    // The alarms of one account are invisible to another.
    let other = AwsCli::new(&smemu.url).with_identity("111122223333", "us-east-1");
    let theirs = other.run("cloudwatch", &["describe-alarms", "--alarm-name-prefix", &prefix]).json();
    assert_eq!(theirs["MetricAlarms"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rust_sdk_puts_describes_and_sets_an_alarm_on_its_own_metric() {
    let smemu = InProcess::start().await;
    let client = aws_sdk_cloudwatch::Client::new(&sdk_config(&smemu.url, "123456789012", "eu-west-1").await);
    let namespace = unique("Shop");
    let name = unique("slow-checkout");
    let dimension = Dimension::builder().name("Page").value("checkout").build();
    client
        .put_metric_alarm()
        .alarm_name(&name)
        .namespace(&namespace)
        .metric_name("Latency")
        .dimensions(dimension.clone())
        .extended_statistic("p90")
        .period(10)
        .evaluation_periods(2)
        .datapoints_to_alarm(1)
        .threshold(100.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .treat_missing_data("notBreaching")
        .send()
        .await
        .unwrap();
    // Latencies whose 90th percentile is over the threshold (the average is not).
    let values: Vec<f64> = (0..100).map(|i| if i < 85 { 10.0 } else { 500.0 }).collect();
    client
        .put_metric_data()
        .namespace(&namespace)
        .metric_data(
            MetricDatum::builder()
                .metric_name("Latency")
                .dimensions(dimension.clone())
                .set_values(Some(values))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let started = Instant::now();
    let fired = loop {
        let answer = client.describe_alarms().alarm_names(&name).send().await.unwrap();
        let alarm = answer.metric_alarms()[0].clone();
        if alarm.state_value() == Some(&StateValue::Alarm) {
            break alarm;
        }
        assert!(started.elapsed() < Duration::from_secs(40), "the alarm did not fire: {alarm:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(fired.extended_statistic(), Some("p90"));
    assert_eq!(fired.alarm_arn(), Some(format!("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{name}").as_str()));
    let reason = fired.state_reason().unwrap();
    assert!(reason.contains("was greater than or equal to the threshold (100.0)"), "{reason}");
    assert!(reason.starts_with("Threshold Crossed: 1 out of the last 2 datapoints ["), "{reason}");

    // DescribeAlarmsForMetric finds it by its metric and statistic.
    let found = client
        .describe_alarms_for_metric()
        .namespace(&namespace)
        .metric_name("Latency")
        .dimensions(dimension)
        .extended_statistic("p90")
        .send()
        .await
        .unwrap();
    assert_eq!(found.metric_alarms().len(), 1);

    client
        .set_alarm_state()
        .alarm_name(&name)
        .state_value(StateValue::Ok)
        .state_reason("acknowledged")
        .state_reason_data(r#"{"by":"oncall"}"#)
        .send()
        .await
        .unwrap();
    let history = client.describe_alarm_history().alarm_name(&name).send().await.unwrap();
    let first = &history.alarm_history_items()[0];
    assert_eq!(first.history_summary(), Some("Alarm updated from ALARM to OK"));
    let data: Value = serde_json::from_str(first.history_data().unwrap()).unwrap();
    assert_eq!(
        data["newState"],
        json!({"stateValue": "OK", "stateReason": "acknowledged", "stateReasonData": {"by": "oncall"}})
    );

    // Errors as the SDK reads them from CBOR.
    let err = client
        .set_alarm_state()
        .alarm_name("nope")
        .state_value(StateValue::Ok)
        .state_reason("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFound"), "{err:?}");
    let err = client.describe_alarms().next_token("not-a-token").send().await.unwrap_err();
    assert_eq!(err.code(), Some("InvalidNextToken"), "{err:?}");
    let err = client.describe_alarms().max_records(0).send().await.unwrap_err();
    assert_eq!(err.code(), Some("ValidationError"), "{err:?}");
    let err = client
        .put_metric_alarm()
        .alarm_name(unique("bad"))
        .namespace(&namespace)
        .metric_name("Latency")
        .statistic(Statistic::Average)
        .period(10)
        .evaluation_periods(8641)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationError"), "{err:?}");
    smemu.shutdown().await;
}

/// One form POST of the query protocol, scoped to account 123456789012 in us-east-1.
fn query(url: &str, params: &[(&str, &str)]) -> (u16, String) {
    let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=123456789012/20261206/us-east-1/monitoring/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_query_protocol_puts_and_describes_alarms_in_xml() {
    let smemu = InProcess::start().await;
    let url = smemu.url.clone();
    let name = unique("query-alarm");
    let answers = tokio::task::spawn_blocking(move || {
        let put = query(
            &url,
            &[
                ("Action", "PutMetricAlarm"),
                ("Version", "2010-08-01"),
                ("AlarmName", &name),
                ("Namespace", "Shop"),
                ("MetricName", "Orders"),
                ("Dimensions.member.1.Name", "Region"),
                ("Dimensions.member.1.Value", "north"),
                ("Statistic", "Sum"),
                ("Period", "30"),
                ("EvaluationPeriods", "2"),
                ("Threshold", "3.5"),
                ("ComparisonOperator", "LessThanOrEqualToThreshold"),
                ("OKActions.member.1", "arn:aws:sns:us-east-1:123456789012:ok"),
            ],
        );
        let described =
            query(&url, &[("Action", "DescribeAlarms"), ("Version", "2010-08-01"), ("AlarmNames.member.1", &name)]);
        let missing = query(
            &url,
            &[
                ("Action", "SetAlarmState"),
                ("Version", "2010-08-01"),
                ("AlarmName", "nope"),
                ("StateValue", "OK"),
                ("StateReason", "x"),
            ],
        );
        (put, described, missing, name)
    })
    .await
    .unwrap();
    let ((status, put), (described_status, described), (missing_status, missing), name) = answers;
    assert_eq!(status, 200, "{put}");
    assert!(
        put.starts_with("<PutMetricAlarmResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\">"),
        "{put}"
    );
    assert_eq!(described_status, 200, "{described}");
    for expected in [
        format!("<AlarmName>{name}</AlarmName>"),
        "<StateValue>INSUFFICIENT_DATA</StateValue>".to_owned(),
        "<ComparisonOperator>LessThanOrEqualToThreshold</ComparisonOperator>".to_owned(),
        "<Threshold>3.5</Threshold>".to_owned(),
        "<Period>30</Period>".to_owned(),
        "<OKActions><member>arn:aws:sns:us-east-1:123456789012:ok</member></OKActions>".to_owned(),
        "<Dimensions><member><Name>Region</Name><Value>north</Value></member></Dimensions>".to_owned(),
    ] {
        assert!(described.contains(&expected), "{expected} in {described}");
    }
    assert_eq!(missing_status, 404, "{missing}");
    assert!(missing.contains("<Code>ResourceNotFound</Code>"), "{missing}");
    smemu.shutdown().await;
}
